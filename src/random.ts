/**
 * Deterministic seeded randomness: the only source of randomness in `src/` (no Math.random).
 *
 * Streams are keyed, not sequenced: `rng(seed, 'shuffle', epoch)` hashes the seed and the label path into
 * a 128-bit state (cyrb128-style multiply-xor mixing, then splitmix32 per word) and runs xoshiro128**
 * (Blackman & Vigna, 2018) from there. A training run that resumes at step t simply asks for
 * `rng(seed, 'gumbel', t)` again, so no generator state ever needs to be saved.
 *
 * Floats: `uniform()` has 32 random bits (a double in [0, 1)); `fill(out, 'uniform')` uses the top 24
 * bits so every value is exact in float32 and strictly below 1. Normals use Box-Muller on two 32-bit draws.
 */

/** A seeded random stream. Not thread-safe, not cryptographic. */
export interface Rng {
  /** Uniform double in [0, 1) with 32 random bits. */
  uniform(): number;
  /** Standard normal N(0, 1) (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number;
  /** Uniform integer in [0, n), unbiased (rejection sampling); 1 <= n <= 2^32. */
  int(n: number): number;
  /** Fills `out` in place with uniform [0, 1) float32 values or standard normals, and returns it. */
  fill(out: Float32Array, kind: 'uniform' | 'normal'): Float32Array;
}

const TWO_POW_32 = 4294967296;
const INV_2_32 = 1 / TWO_POW_32;
const INV_2_24 = 1 / 16777216;
const TWO_PI = 2 * Math.PI;

/**
 * An independent stream keyed by the seed and any path of labels, e.g. `rng(seed, 'shuffle', epoch)`.
 * The same arguments always give the same sequence; any change of seed, label or label type
 * (`'3'` vs `3`) gives an unrelated one.
 */
export function rng(seed: number, ...stream: Array<string | number>): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`rng seed must be a safe integer, got ${seed}`);
  for (const label of stream) {
    if (typeof label === 'number' && !Number.isFinite(label)) {
      throw new RangeError(`rng stream label must be a finite number or a string, got ${label}`);
    }
  }
  // JSON keeps strings and numbers apart and delimits labels, so ('a', 1) and ('a1') never collide.
  const [a, b, c, d] = hash128(JSON.stringify([seed, ...stream]));
  return xoshiro128ss(splitmix32(a), splitmix32(b ^ 0x9e3779b9), splitmix32(c ^ 0x7f4a7c15), splitmix32(d ^ 0xf39cc060));
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates), drawn from `r`. */
export function permutation(n: number, r: Rng): Uint32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > TWO_POW_32) {
    throw new RangeError(`permutation size must be an integer in [0, 2^32], got ${n}`);
  }
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** cyrb128: a fast 128-bit non-cryptographic string hash (4 lanes of multiply-xor mixing). */
function hash128(key: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < key.length; i++) {
    const k = key.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** splitmix32 finalizer: full avalanche of one 32-bit word. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** xoshiro128** over the given state; the state words live in closure variables for speed. */
function xoshiro128ss(a: number, b: number, c: number, d: number): Rng {
  let s0 = a | 0;
  let s1 = b | 0;
  let s2 = c | 0;
  let s3 = d | 0;
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point

  /** Next raw output as an unsigned 32-bit integer. */
  function next(): number {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return r >>> 0;
  }

  let spare = 0;
  let hasSpare = false;

  // Warm up so that similar hash states have diverged before the first output.
  for (let i = 0; i < 8; i++) next();

  return {
    uniform: () => next() * INV_2_32,
    normal(): number {
      if (hasSpare) {
        hasSpare = false;
        return spare;
      }
      // u1 in (0, 1] keeps log finite; radius at most sqrt(64 ln 2) ~ 6.66.
      const radius = Math.sqrt(-2 * Math.log((next() + 1) * INV_2_32));
      const theta = TWO_PI * next() * INV_2_32;
      spare = radius * Math.sin(theta);
      hasSpare = true;
      return radius * Math.cos(theta);
    },
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
        throw new RangeError(`rng.int bound must be an integer in [1, 2^32], got ${n}`);
      }
      // Reject the top partial block of 2^32 so every residue is equally likely.
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      let x = next();
      while (x >= limit) x = next();
      return x % n;
    },
    fill(out: Float32Array, kind: 'uniform' | 'normal'): Float32Array {
      const n = out.length;
      if (kind === 'uniform') {
        for (let i = 0; i < n; i++) out[i] = (next() >>> 8) * INV_2_24;
        return out;
      }
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const radius = Math.sqrt(-2 * Math.log((next() + 1) * INV_2_32));
        const theta = TWO_PI * next() * INV_2_32;
        out[i] = radius * Math.cos(theta);
        out[i + 1] = radius * Math.sin(theta);
      }
      if (i < n) out[i] = this.normal();
      return out;
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
