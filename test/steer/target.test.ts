/**
 * Target-usage solver (src/steer/target.ts) on synthetic step functions: monotone increasing and
 * decreasing, expansion on the side the trend points to, a domain edge, a non-monotone bracket, a jump
 * over the target (reached = false, no loop), a target outside the reachable range
 * (TargetUnreachableError with the range), bounded evaluation counts, and argument errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { solveTargetUsage, TargetUnreachableError, type TargetUsageResult } from '../../src/steer/target.js';

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
/** Usage in steps of `step` (a step function, as usage over finitely many images is). */
const stepped = (v: number, step = 0.01): number => clamp01(Math.floor(v / step) * step);

/** usageAt wrapped to count and record calls. */
function counted(f: (p: number) => number): { f: (p: number) => number; params: number[] } {
  const params: number[] = [];
  return {
    f: (p) => {
      params.push(p);
      return f(p);
    },
    params,
  };
}

/** `f` is the uncounted usage function (checking must not add calls). */
function assertReached(r: TargetUsageResult, f: (p: number) => number, target: number, calls: number, tol = 0.01): void {
  assert.equal(r.reached, true);
  assert.equal(r.unreached, undefined);
  assert.equal(r.usage, f(r.param), 'usage is usageAt(param)');
  assert.ok(Math.abs(r.usage - target) <= tol, `usage ${r.usage} vs target ${target}`);
  assert.equal(r.evaluations, calls, 'evaluations counts every call');
}

test('monotone increasing step function: bisection reaches the target within tol', () => {
  const f = (p: number): number => stepped(p);
  const c = counted(f);
  const r = solveTargetUsage(c.f, [0, 1], 0.537);
  assertReached(r, f, 0.537, c.params.length);
  assert.ok(r.evaluations <= 2 + 30);
  assert.equal(new Set(c.params).size, c.params.length, 'no param evaluated twice');
});

test('monotone decreasing: expands hi (the side the trend points to) until bracketed, then bisects', () => {
  const f = (p: number): number => stepped(1 - p);
  const c = counted(f);
  const r = solveTargetUsage(c.f, [0, 0.5], 0.2);
  assertReached(r, f, 0.2, c.params.length);
  assert.ok(
    c.params.every((p) => p >= 0),
    'lo side never expanded',
  );
  assert.ok(c.params.includes(1), 'hi expanded to 0.5 + 0.5');
});

test('the target below usage(lo) of an increasing function: expands lo first', () => {
  const f = (p: number): number => stepped(p);
  const c = counted(f);
  const r = solveTargetUsage(c.f, [0.6, 0.8], 0.1);
  assertReached(r, f, 0.1, c.params.length);
  assert.ok(
    c.params.every((p) => p <= 0.8),
    'hi side never expanded',
  );
});

test('flat ends: hi is expanded first, then lo', () => {
  // usage 0.5 on [-1, 1], 0.9 beyond -3 only (on the lo side).
  const f = (p: number): number => (p < -3 ? 0.9 : 0.5);
  const c = counted(f);
  const r = solveTargetUsage(c.f, [-1, 1], 0.9, { maxExpansions: 3 });
  assertReached(r, f, 0.9, c.params.length);
  assert.deepEqual(c.params.slice(0, 5), [-1, 1, 3, 7, 15], 'ends, then hi + 2 (2^k - 1) for k = 1..3');
  assert.deepEqual(c.params.slice(5, 7), [-3, -7], 'then lo - 2 (2^k - 1)');
});

test('domain: expansion stops at its edge', () => {
  const c = counted((p) => stepped(0.5 + 0.1 * p));
  assert.throws(() => solveTargetUsage(c.f, [0, 1], 0.1, { domain: [-1, Infinity], maxExpansions: 8 }), TargetUnreachableError);
  assert.ok(Math.min(...c.params) === -1, 'clamped to the domain');
  assert.equal(c.params.filter((p) => p === -1).length, 1, 'the edge is evaluated once');
  assert.throws(() => solveTargetUsage(c.f, [-2, 1], 0.5, { domain: [-1, 2] }), /bracket \[-2, 1\] must lie inside the domain \[-1, 2\]/);
});

test('non-monotone within the bracket: bisection on the sign still finds a crossing', () => {
  const f = (p: number): number => stepped(0.1 + 0.8 * Math.abs(Math.sin(3 * p)));
  const c = counted(f);
  const r = solveTargetUsage(c.f, [0, 2], 0.25);
  assertReached(r, f, 0.25, c.params.length);
});

test('an end within tol returns at once, the closer end', () => {
  const c = counted((p) => (p < 0.5 ? 0.305 : 0.298));
  const r = solveTargetUsage(c.f, [0, 1], 0.3);
  assert.deepEqual(r, { param: 1, usage: 0.298, evaluations: 2, reached: true });
});

test('a jump over the target: reached = false with the closest point and the jump, without looping', () => {
  const c = counted((p) => (p < 0.3 ? 0.2 : 0.75));
  const r = solveTargetUsage(c.f, [0, 1], 0.5);
  assert.equal(r.reached, false);
  assert.equal(r.evaluations, c.params.length);
  assert.ok(r.evaluations <= 2 + 30, `${r.evaluations} evaluations`);
  const u = r.unreached!;
  assert.equal(u.cause, 'jump');
  assert.ok(u.lower.param < 0.3 && u.upper.param >= 0.3 && u.upper.param - u.lower.param <= 1e-6, `jump between ${u.lower.param} and ${u.upper.param}`);
  assert.equal(u.lower.usage, 0.2);
  assert.equal(u.upper.usage, 0.75);
  assert.match(u.message, /usage jumps over the target 0\.5 \(tol 0\.01\) between param 0\.29999\d* \(usage 0\.2\) and 0\.3000\d* \(usage 0\.75\)/);
  assert.equal(r.usage, 0.75, 'closest: |0.75 - 0.5| < |0.2 - 0.5|');
  assert.ok(r.param >= 0.3);
  // Bisection steps run out first: cause 'max-iterations', exactly 2 + maxIterations evaluations.
  const short = solveTargetUsage(c.f, [0, 1], 0.5, { maxIterations: 5 });
  assert.equal(short.reached, false);
  assert.equal(short.evaluations, 7);
  assert.equal(short.unreached!.cause, 'max-iterations');
  assert.match(short.unreached!.message, /not reached after 5 bisection steps/);
});

test('a target outside the reachable range: TargetUnreachableError giving the usage range searched', () => {
  const c = counted((p) => Math.min(0.7, Math.max(0.3, p)));
  let err: unknown;
  try {
    solveTargetUsage(c.f, [0.4, 0.6], 0.9);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof TargetUnreachableError && err instanceof UserError);
  assert.deepEqual(err.usageRange, [0.3, 0.7]);
  assert.equal(err.evaluations, 2 + 2 * 8, 'both ends, then 8 expansions per side');
  assert.equal(c.params.length, 18);
  assert.ok(Math.abs(err.paramRange[0] - (0.4 - 0.2 * 255)) < 1e-9 && Math.abs(err.paramRange[1] - (0.6 + 0.2 * 255)) < 1e-9, `params ${err.paramRange}`);
  assert.match(
    err.message,
    /target usage 0\.9 is not reachable: usage ranged over \[0\.300, 0\.700\] for params in \[-50\.\d{1,3}, 51\.\d{1,3}\] \(18 evaluations\)/,
  );
});

test('evaluation count stays within 2 + 2 maxExpansions + maxIterations', () => {
  const opts = { maxExpansions: 4, maxIterations: 6, tol: 0 };
  for (const [f, target] of [
    [(p: number) => stepped(p, 1e-6), 0.123457],
    [(p: number) => stepped(1 - p / 10, 1e-6), 0.01],
    [(p: number) => (p < 0.3 ? 0.2 : 0.75), 0.5],
  ] as const) {
    const c = counted(f);
    const r = solveTargetUsage(c.f, [0, 1], target, opts);
    assert.equal(r.evaluations, c.params.length);
    assert.ok(r.evaluations <= 2 + 2 * 4 + 6, `${r.evaluations} evaluations`);
  }
});

test('argument errors name the value', () => {
  const f = (p: number): number => clamp01(p);
  assert.throws(
    () => solveTargetUsage(f, [0, 1], 1.5),
    (e: unknown) => e instanceof RangeError && /target usage must be in \[0, 1\], got 1\.5/.test(e.message),
  );
  assert.throws(() => solveTargetUsage(f, [0, 1], Number.NaN), /got NaN/);
  assert.throws(() => solveTargetUsage(f, [0, Infinity], 0.5), /bracket must be finite, got \[0, Infinity\]/);
  assert.throws(() => solveTargetUsage(f, [Number.NaN, 1], 0.5), /bracket must be finite, got \[NaN, 1\]/);
  assert.throws(() => solveTargetUsage(f, [1, 0], 0.5), /bracket \[1, 0\] must have lo < hi/);
  assert.throws(() => solveTargetUsage(f, [0, 1], 0.5, { tol: -1 }), /tol must be a finite number >= 0, got -1/);
  assert.throws(() => solveTargetUsage(f, [0, 1], 0.5, { growth: 1 }), /growth must be a finite number > 1, got 1/);
  assert.throws(() => solveTargetUsage(f, [0, 1], 0.5, { maxIterations: 1.5 }), /maxIterations must be an integer >= 0, got 1\.5/);
  assert.throws(() => solveTargetUsage(() => Number.NaN, [0, 1], 0.5), /usageAt\(0\) returned NaN/);
});
