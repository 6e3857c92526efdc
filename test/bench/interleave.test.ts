/**
 * bench/interleave.ts: the median, the spread and the side medians of a set of rounds, and the order in
 * which interleave() runs the two sides (alternating, so neither always runs second). Exact arithmetic on
 * small numbers; no timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interleave, median, oursFirst, summarize } from '../../bench/interleave.js';

test('median: the middle value, or the mean of the middle two; the input is not reordered', () => {
  const v = [5, 1, 3];
  assert.equal(median(v), 3);
  assert.deepEqual(v, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]));
});

test('summarize: the median of the per-round ratios (not the ratio of the medians), min-max, side medians', () => {
  // Ratios 2, 0.5, 1, 1.5, 1.25: median 1.25. Medians of the sides are 200 and 100: ratio of medians 2.
  const s = summarize([
    { ours: 200, torch: 100 },
    { ours: 50, torch: 100 },
    { ours: 300, torch: 300 },
    { ours: 300, torch: 200 },
    { ours: 100, torch: 80 },
  ]);
  assert.equal(s.medianRatio, 1.25);
  assert.equal(s.minRatio, 0.5);
  assert.equal(s.maxRatio, 2);
  assert.equal(s.oursMedianPerSec, 200);
  assert.equal(s.torchMedianPerSec, 100);
});

test('summarize: a slow spell that hits both sides of a round leaves its ratio alone', () => {
  const s = summarize([
    { ours: 100, torch: 80 },
    { ours: 25, torch: 20 }, // the machine at a quarter speed for this round
    { ours: 100, torch: 80 },
  ]);
  assert.equal(s.minRatio, 1.25);
  assert.equal(s.maxRatio, 1.25);
});

test('interleave: R rounds, sides alternating first (A B, B A, A B), the load read before each round', () => {
  const calls: string[] = [];
  const side = (name: string) => (): number => {
    calls.push(name);
    return calls.length - 1;
  };
  const rounds = interleave(3, side('ours'), side('torch'), () => calls.length);
  assert.deepEqual(calls, ['ours', 'torch', 'torch', 'ours', 'ours', 'torch']);
  assert.deepEqual(
    rounds.map((r) => r.oursFirst),
    [true, false, true],
  );
  assert.deepEqual([0, 1, 2].map(oursFirst), [true, false, true]);
  assert.deepEqual(
    rounds.map((r) => [r.ours, r.torch, r.loadAvg]),
    [
      [0, 1, 0],
      [3, 2, 2],
      [4, 5, 4],
    ],
  );
});
