/** Type-7 quantiles (src/steer/quantile.ts): ends, interpolation, constant samples exact, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantileSorted } from '../../src/steer/quantile.js';

test('quantileSorted: min at 0, max at 1, linear between order statistics (numpy/R default)', () => {
  const s = Float64Array.from([1, 2, 4, 8]);
  assert.equal(quantileSorted(s, 0), 1);
  assert.equal(quantileSorted(s, 1), 8);
  assert.equal(quantileSorted(s, 0.5), 3); // h = 1.5
  assert.equal(quantileSorted(s, 0.75), 5); // h = 2.25: 4 + 0.25 * 4
  assert.equal(quantileSorted([7], 0.3), 7);
  // numpy.percentile(range(1000), [2.5, 97.5]) = [24.975, 974.025]
  const r = Float64Array.from({ length: 1000 }, (_, i) => i);
  assert.ok(Math.abs(quantileSorted(r, 0.025) - 24.975) < 1e-9);
  assert.ok(Math.abs(quantileSorted(r, 0.975) - 974.025) < 1e-9);
  assert.equal(quantileSorted([0.1, 0.1, 0.1], 0.37), 0.1, 'constant samples exactly');
});

test('quantileSorted: errors', () => {
  assert.throws(() => quantileSorted([], 0.5), /empty sample/);
  assert.throws(() => quantileSorted([1], 1.5), /q must be in \[0, 1\], got 1.5/);
  assert.throws(() => quantileSorted([1], Number.NaN), /got NaN/);
});
