/** Helpers shared by the engine tests (no tests here). */
import assert from 'node:assert/strict';

/** Deterministic uniform(lo, hi) values (LCG; tests need no Math.random). */
export function values(size: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(size);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

/** Run `f` with environment variable `name` set to `value` (undefined: unset), restoring it after. */
export function withEnv<T>(name: string, value: string | undefined, f: () => T): T {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

/** Elementwise |got - want| <= tol max(1, |want|), naming `what` and the first index that fails. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    assert.ok(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)), `${what}[${i}]: got ${g}, want ${w}`);
  }
}
