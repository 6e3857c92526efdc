/**
 * Null for "top-5 classes by gain" (src/steer/null.ts): random class sets are distinct, in range,
 * independent per class, deterministic per stream and uniform in inclusion frequency; the rank-wise
 * null matches a hand computation and, for i.i.d. uniform gains, the Beta order-statistic 95th
 * percentiles; beatsNull compares rank by rank; argument errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../src/random.js';
import { beatsNull, largestGains, randomClassSets, topGainNull } from '../../src/steer/null.js';

test('randomClassSets: C sets of ks distinct latents in 0..F-1, deterministic per stream', () => {
  const sets = randomClassSets(50, 8, 6, rng(1, 'null-sets', 0));
  assert.equal(sets.length, 6);
  for (const s of sets) {
    assert.equal(s.length, 8);
    assert.equal(new Set(s).size, 8, 'distinct');
    for (const i of s) assert.ok(Number.isInteger(i) && i >= 0 && i < 50);
  }
  assert.deepEqual(randomClassSets(50, 8, 6, rng(1, 'null-sets', 0)), sets, 'same stream, same sets');
  assert.notDeepEqual(randomClassSets(50, 8, 6, rng(1, 'null-sets', 1)), sets, 'next null sample, fresh sets');
  assert.notDeepEqual(sets[0], sets[1], 'a fresh draw per class');
  const all = randomClassSets(7, 7, 2, rng(2, 's'));
  for (const s of all)
    assert.deepEqual(
      Array.from(s).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6],
      'ks = F: a permutation',
    );
});

test('randomClassSets: every latent is included with probability ks/F, and sets of two classes are independent', () => {
  const F = 20;
  const ks = 5;
  const draws = 4000;
  const freq = new Float64Array(F);
  let shared = 0;
  for (let t = 0; t < draws; t++) {
    const [a, b] = randomClassSets(F, ks, 2, rng(3, 'freq', t)) as [Int32Array, Int32Array];
    for (const i of a) freq[i]! += 1;
    const inA = new Set(a);
    for (const i of b) if (inA.has(i)) shared++;
  }
  // Inclusion ~ Binomial(4000, 0.25): SD 27.4; 5 SD tolerance.
  for (let i = 0; i < F; i++) assert.ok(Math.abs(freq[i]! - draws * 0.25) < 5 * 27.4, `latent ${i}: ${freq[i]}`);
  // Independent sets share ks * ks / F = 1.25 latents on average (hypergeometric, SD 0.86 per draw).
  assert.ok(Math.abs(shared / draws - 1.25) < 5 * (0.86 / Math.sqrt(draws)), `mean overlap ${shared / draws}`);
});

test('largestGains: the top values, largest first', () => {
  assert.deepEqual(Array.from(largestGains([0.1, -0.2, 0.3, 0.3, 0], 3)), [0.3, 0.3, 0.1]);
  assert.deepEqual(Array.from(largestGains([1], 1)), [1]);
  assert.equal(topGainNull([Float64Array.from([5, 4, 3, 2, 1, 0])]).p95.length, 5, 'top defaults to 5');
});

test('topGainNull: rank-wise sorted distributions and type-7 95th percentiles on hand-made gains', () => {
  // 3 null samples x 4 classes.
  const gains = [Float64Array.from([0.1, 0.0, -0.1, 0.05]), Float64Array.from([0.2, 0.15, 0.0, 0.0]), Float64Array.from([0.0, 0.3, 0.01, -0.2])];
  const n = topGainNull(gains, 2);
  assert.equal(n.samples, 3);
  assert.deepEqual(Array.from(n.distributions[0]!), [0.1, 0.2, 0.3]);
  assert.deepEqual(Array.from(n.distributions[1]!), [0.01, 0.05, 0.15]);
  // h = 0.95 * 2 = 1.9: 0.2 + 0.9 * 0.1 and 0.05 + 0.9 * 0.1.
  assert.ok(Math.abs(n.p95[0]! - 0.29) < 1e-12);
  assert.ok(Math.abs(n.p95[1]! - 0.14) < 1e-12);
});

test('topGainNull: i.i.d. uniform gains give the Beta order-statistic 95th percentiles', () => {
  // The j-th largest of C = 10 uniforms is below x with probability P(Binomial(10, 1 - x) < j).
  const C = 10;
  const S = 4000;
  const r = rng(4, 'uniform-gains');
  const gains = Array.from({ length: S }, () => Float64Array.from({ length: C }, () => r.uniform()));
  const n = topGainNull(gains, 5);
  const cdf = (x: number, j: number): number => {
    let p = 0;
    let binom = 1; // C choose m
    for (let m = 0; m < j; m++) {
      p += binom * (1 - x) ** m * x ** (C - m);
      binom = (binom * (C - m)) / (m + 1);
    }
    return p;
  };
  for (let j = 1; j <= 5; j++) {
    // Exact 95th percentile by bisection on the CDF.
    let lo = 0;
    let hi = 1;
    for (let it = 0; it < 60; it++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid, j) < 0.95) lo = mid;
      else hi = mid;
    }
    assert.ok(Math.abs(n.p95[j - 1]! - lo) < 0.015, `rank ${j}: null p95 ${n.p95[j - 1]} vs exact ${lo}`);
    if (j > 1) assert.ok(n.p95[j - 1]! <= n.p95[j - 2]!, 'lower ranks have lower bars');
  }
});

test('beatsNull: strictly above the rank-wise 95th percentile', () => {
  const p95 = [0.3, 0.2, 0.1];
  assert.deepEqual(beatsNull([0.35, 0.2, 0.15], p95), [true, false, true]);
  assert.deepEqual(beatsNull([0.1], p95), [false]);
  assert.deepEqual(beatsNull([], p95), []);
});

test('argument errors', () => {
  const r = rng(5, 'e');
  assert.throws(() => randomClassSets(10, 11, 2, r), /ks must be an integer in 1..10, got 11/);
  assert.throws(() => randomClassSets(0, 1, 2, r), /F must be a positive integer, got 0/);
  assert.throws(() => randomClassSets(10, 2, 0, r), /C must be a positive integer, got 0/);
  assert.throws(() => topGainNull([]), /no null samples/);
  assert.throws(() => topGainNull([new Float64Array(6), new Float64Array(5)]), /null sample 1 has 5 class gains, sample 0 has 6/);
  assert.throws(() => topGainNull([new Float64Array(4)]), /top must be an integer in 1..4 \(the number of classes\), got 5/);
  assert.throws(() => topGainNull([Float64Array.from([0, Number.NaN, 0, 0, 0])]), /null sample 0: .*gain of class 1 is NaN/);
  assert.throws(() => beatsNull([0.1, 0.2], [0.3, 0.3]), /sorted largest first, but gain 1 \(0.2\) exceeds gain 0 \(0.1\)/);
  assert.throws(() => beatsNull([0.3, 0.2, 0.1], [0.3, 0.3]), /3 observed gains but the null has only 2 ranks/);
});
