/**
 * Latent statistics and index sets (src/steer/stats.ts): counts and mean active values on a hand-made
 * z (exact), batch-by-batch == all at once, topFrequent's deterministic ties, the seeded random set,
 * and overlaps on hand-made sets (1 for identical, 0 for disjoint, exact fractions otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationCounter, activationCounts, classPairOverlaps, globalVsPerClass, indexSets, overlap, topFrequent } from '../../src/steer/stats.js';

// 4 samples x 5 latents, classes [0, 1, 0, 1]. Negative and zero entries are not active.
const Z = Float32Array.from([
  1,
  0,
  2,
  0,
  -1, //
  0,
  3,
  0,
  0,
  0, //
  2,
  0,
  4,
  0,
  0, //
  0,
  1,
  1,
  0,
  5, //
]);
const LABELS = [0, 1, 0, 1];

test('activationCounts: global, per-class, class sizes and mean active value on a hand-made z', () => {
  const s = activationCounts([{ z: Z, labels: LABELS }], 2, 5);
  assert.equal(s.n, 4);
  assert.deepEqual(Array.from(s.global), [2, 2, 3, 0, 1]);
  assert.deepEqual(Array.from(s.perClass[0]!), [2, 0, 2, 0, 0]);
  assert.deepEqual(Array.from(s.perClass[1]!), [0, 2, 1, 0, 1]);
  assert.deepEqual(s.classSizes, [2, 2]);
  assert.deepEqual(Array.from(s.meanActive), [1.5, 2, 7 / 3, 0, 5]);
});

test('activationCounter: feeding batches one by one == all at once; result() is a snapshot', () => {
  const c = activationCounter(2, 5);
  c.add(Z.subarray(0, 10), Int32Array.from([0, 1]));
  const first = c.result();
  c.add(Z.subarray(10), [0, 1]);
  assert.deepEqual(c.result(), activationCounts([{ z: Z, labels: LABELS }], 2, 5));
  assert.equal(first.n, 2);
  assert.deepEqual(Array.from(first.global), [1, 1, 1, 0, 0]);
  assert.throws(() => c.add(Z, [0, 1, 2, 0]), /label 2 at row 2, expected an integer in 0..1/);
  assert.throws(() => c.add(Z, [0, 1]), /z has 20 values, expected B\*F = 2\*5/);
});

test('topFrequent: most frequent first, ties to the lower index, deterministic', () => {
  const counts = Float64Array.from([3, 5, 5, 1, 3, 0]);
  assert.deepEqual(Array.from(topFrequent(counts, 3)), [1, 2, 0]);
  assert.deepEqual(Array.from(topFrequent(counts, 4)), [1, 2, 0, 4]);
  assert.deepEqual(Array.from(topFrequent(new Float64Array(4), 2)), [0, 1]);
  assert.throws(() => topFrequent(counts, 7), /ks must be an integer in 1..6/);
});

test('indexSets: per-class and global from counts; random set seeded, distinct, in range', () => {
  const s = activationCounts([{ z: Z, labels: LABELS }], 2, 5);
  const sets = indexSets(s, 2, 7);
  assert.deepEqual(Array.from(sets.global), [2, 0]);
  assert.deepEqual(
    sets.perClass.map((p) => Array.from(p)),
    [
      [0, 2],
      [1, 2],
    ],
  );
  assert.equal(sets.random.length, 2);
  assert.equal(new Set(sets.random).size, 2);
  for (const i of sets.random) assert.ok(i >= 0 && i < 5);
  assert.deepEqual(indexSets(s, 2, 7).random, sets.random);
  const big = { ...s, global: new Float64Array(1000), perClass: [] };
  assert.notDeepEqual(indexSets(big, 50, 1).random, indexSets(big, 50, 2).random);
});

test('overlaps: 1 for identical, 0 for disjoint, |a ∩ b| / ks otherwise; global vs per-class; class pairs', () => {
  const a = Int32Array.from([1, 2, 3, 4]);
  assert.equal(overlap(a, Int32Array.from([4, 3, 2, 1]), 4), 1);
  assert.equal(overlap(a, Int32Array.from([5, 6, 7, 8]), 4), 0);
  assert.equal(overlap(a, Int32Array.from([3, 4, 5, 6]), 4), 0.5);
  const sets = {
    global: Int32Array.from([1, 2, 3, 4]),
    perClass: [Int32Array.from([1, 2, 3, 4]), Int32Array.from([4, 5, 6, 7]), Int32Array.from([8, 9, 10, 11])],
  };
  assert.equal(globalVsPerClass(sets), (1 + 0.25 + 0) / 3);
  assert.deepEqual(classPairOverlaps(sets), [
    [1, 0.25, 0],
    [0.25, 1, 0],
    [0, 0, 1],
  ]);
});
