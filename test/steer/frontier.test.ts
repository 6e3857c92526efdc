/**
 * Accuracy-usage frontier (src/steer/frontier.ts) on hand-made points: dominated points dropped,
 * ties in usage or accuracy and exact duplicates resolved as documented, interpolation between
 * neighbours, the plateau above the largest usage, undefined below the smallest, margins, the concave
 * envelope, and argument errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concaveFrontier, frontierAt, marginOverFrontier, oracleGroupFrontier, paretoFrontier, type UsageAccuracy } from '../../src/steer/frontier.js';

const pt = (usage: number, accuracy: number, label = ''): UsageAccuracy & { label: string } => ({ usage, accuracy, label });
const pairs = (f: readonly UsageAccuracy[]): Array<[number, number]> => f.map((p) => [p.usage, p.accuracy]);

test('paretoFrontier: drops dominated points, sorts by usage, keeps the input objects', () => {
  const points = [pt(0.9, 0.95, 'a'), pt(0.5, 0.8, 'b'), pt(0.6, 0.7, 'dominated by b'), pt(0.2, 0.5, 'c'), pt(1, 0.9, 'dominated by a')];
  const f = paretoFrontier(points);
  assert.deepEqual(
    f.map((p) => p.label),
    ['c', 'b', 'a'],
  );
  assert.equal(f[0], points[3], 'same objects');
  assert.deepEqual(paretoFrontier([]), []);
  assert.deepEqual(pairs(paretoFrontier([pt(0.4, 0.6)])), [[0.4, 0.6]]);
});

test('paretoFrontier: ties in usage keep the best accuracy, ties in accuracy the lowest usage, duplicates once', () => {
  const f = paretoFrontier([
    pt(0.5, 0.7, 'low'),
    pt(0.5, 0.8, 'high'),
    pt(0.3, 0.6, 'x'),
    pt(0.4, 0.6, 'same acc, more usage'),
    pt(0.3, 0.6, 'duplicate of x'),
  ]);
  assert.deepEqual(
    f.map((p) => p.label),
    ['x', 'high'],
  );
  // Strictly increasing in both coordinates.
  const g = paretoFrontier([pt(0.1, 0.2), pt(0.1, 0.2), pt(0.2, 0.2), pt(0.2, 0.3), pt(0.3, 0.3), pt(0.3, 0.25)]);
  assert.deepEqual(pairs(g), [
    [0.1, 0.2],
    [0.2, 0.3],
  ]);
});

test('frontierAt: interpolates between neighbours, plateaus above, undefined below', () => {
  const f = paretoFrontier([pt(0.2, 0.5), pt(0.6, 0.9), pt(0.4, 0.8), pt(0.7, 0.6)]);
  assert.deepEqual(pairs(f), [
    [0.2, 0.5],
    [0.4, 0.8],
    [0.6, 0.9],
  ]);
  assert.equal(frontierAt(f, 0.2), 0.5, 'at the first point');
  assert.equal(frontierAt(f, 0.4), 0.8, 'at a middle point');
  assert.ok(Math.abs(frontierAt(f, 0.3)! - 0.65) < 1e-12, 'halfway between 0.2 and 0.4');
  assert.ok(Math.abs(frontierAt(f, 0.55)! - 0.875) < 1e-12, '3/4 of the way from 0.4 to 0.6');
  assert.equal(frontierAt(f, 0.6), 0.9);
  assert.equal(frontierAt(f, 1), 0.9, 'above the largest usage: max accuracy');
  assert.equal(frontierAt(f, 0.19), undefined, 'below the smallest usage: unreachable');
  assert.equal(frontierAt([], 0.5), undefined, 'empty frontier');
  assert.equal(frontierAt([pt(0.5, 0.7)], 0.5), 0.7, 'a single point');
});

test('marginOverFrontier: accuracy minus the frontier at the same usage, undefined where unreachable', () => {
  const f = paretoFrontier([pt(0.2, 0.5), pt(0.4, 0.8), pt(0.6, 0.9)]);
  const m = marginOverFrontier([pt(0.3, 0.7), pt(0.5, 0.8), pt(0.4, 0.8), pt(0.9, 0.95), pt(0.1, 0.99)], f);
  assert.ok(Math.abs(m[0]! - 0.05) < 1e-12, 'above the segment');
  assert.ok(Math.abs(m[1]! + 0.05) < 1e-12, 'below the segment');
  assert.equal(m[2], 0, 'on a frontier point');
  assert.ok(Math.abs(m[3]! - 0.05) < 1e-12, 'above the plateau');
  assert.equal(m[4], undefined, 'usage below the frontier');
  // Against its own frontier no point has a positive margin.
  const own = [pt(0.3, 0.6), pt(0.5, 0.65), pt(0.35, 0.62), pt(0.8, 0.9)];
  for (const v of marginOverFrontier(own, paretoFrontier(own))) assert.ok(v !== undefined && v <= 1e-15);
});

test('concaveFrontier: drops Pareto points under a chord (and collinear ones); never below the Pareto frontier', () => {
  // Dyadic values, so the collinearity below is exact in floating point.
  // (0.375, 0.53125) is Pareto-optimal but lies below the chord from (0.25, 0.5) to (0.5, 0.875) (0.6875 there).
  const points = [pt(0.25, 0.5), pt(0.375, 0.53125), pt(0.5, 0.875), pt(0.75, 0.9375), pt(1, 1)];
  assert.deepEqual(pairs(paretoFrontier(points)), pairs(points));
  const hull = concaveFrontier(points);
  // (0.75, 0.9375) lies exactly on the chord from (0.5, 0.875) to (1, 1) and is dropped too.
  assert.deepEqual(pairs(hull), [
    [0.25, 0.5],
    [0.5, 0.875],
    [1, 1],
  ]);
  assert.equal(frontierAt(hull, 0.375), 0.6875);
  assert.equal(frontierAt(hull, 0.75), 0.9375, 'dropping a collinear point leaves frontierAt unchanged');
  for (const u of [0.25, 0.3, 0.375, 0.45, 0.6, 0.9, 1]) assert.ok(frontierAt(hull, u)! >= frontierAt(paretoFrontier(points), u)!, `u = ${u}`);
  assert.deepEqual(concaveFrontier([]), []);
});

test('argument errors name the bad value', () => {
  assert.throws(() => paretoFrontier([pt(0.1, 0.2), pt(Number.NaN, 0.3)]), /point 1 has usage NaN/);
  assert.throws(() => paretoFrontier([pt(0.1, Infinity)]), /point 0 has accuracy Infinity/);
  assert.throws(() => frontierAt([pt(0.1, 0.2)], Number.NaN), /usage NaN/);
  assert.throws(() => frontierAt([pt(0.4, 0.6), pt(0.2, 0.7)], 0.3), /strictly increasing usage, but point 1 has usage 0.2 after 0.4/);
  assert.throws(() => marginOverFrontier([pt(-Infinity, 0.5)], []), /marginOverFrontier: point 0 has usage -Infinity/);
});

test("oracleGroupFrontier: one group of weight 1 is that group's concave frontier", () => {
  const points = [
    { usage: 0.2, accuracy: 0.5 },
    { usage: 0.5, accuracy: 0.6 },
    { usage: 0.6, accuracy: 0.9 },
    { usage: 1, accuracy: 0.95 },
  ];
  const f = oracleGroupFrontier([{ weight: 1, points }]);
  assert.deepEqual(
    f.map((p) => [p.usage, p.accuracy]),
    concaveFrontier(points).map((p) => [p.usage, p.accuracy]),
  );
});

test('oracleGroupFrontier: two groups spend usage where accuracy rises fastest first', () => {
  // Group a gains 0.4 accuracy for 0.5 usage (slope 0.8); group b gains 0.1 for 0.5 (slope 0.2).
  const a = {
    weight: 0.5,
    points: [
      { usage: 0.5, accuracy: 0.5 },
      { usage: 1, accuracy: 0.9 },
    ],
  };
  const b = {
    weight: 0.5,
    points: [
      { usage: 0.5, accuracy: 0.8 },
      { usage: 1, accuracy: 0.9 },
    ],
  };
  const f = oracleGroupFrontier([b, a]);
  const close = (x: number, y: number): boolean => Math.abs(x - y) < 1e-12;
  assert.equal(f.length, 3);
  assert.ok(close(f[0]!.usage, 0.5) && close(f[0]!.accuracy, 0.65), 'both groups at their lowest usage');
  assert.ok(close(f[1]!.usage, 0.75) && close(f[1]!.accuracy, 0.85), 'group a raised first');
  assert.ok(close(f[2]!.usage, 1) && close(f[2]!.accuracy, 0.9), 'then group b');
  // Every choice of one point per group lies on or below the oracle frontier.
  for (const pa of a.points) {
    for (const pb of b.points) {
      const u = 0.5 * pa.usage + 0.5 * pb.usage;
      const acc = 0.5 * pa.accuracy + 0.5 * pb.accuracy;
      assert.ok(acc <= frontierAt(f, u)! + 1e-12, `(${u}, ${acc}) above the oracle frontier`);
    }
  }
});

test('oracleGroupFrontier: a group without points or with a bad weight is a RangeError', () => {
  assert.throws(() => oracleGroupFrontier([{ weight: 1, points: [] }]), /group 0 has no points/);
  assert.throws(() => oracleGroupFrontier([{ weight: Number.NaN, points: [{ usage: 0, accuracy: 0 }] }]), /group 0 has weight NaN/);
});
