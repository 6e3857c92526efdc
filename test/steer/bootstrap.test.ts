/**
 * Paired bootstrap (src/steer/bootstrap.ts): a zero difference gives [0, 0]; a constant usage shift
 * gives exactly that shift; a known accuracy gain lies inside its interval with the expected width;
 * coverage near 95% over simulated data sets; determinism per seed and stream; per-class outcomes
 * from a run; length mismatch and bad values are RangeErrors naming them; 1000 x 1000 under 50 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../src/random.js';
import { imageOutcomes, pairedBootstrap, type ImageOutcomes } from '../../src/steer/bootstrap.js';

/** n images: correct with probability pCorrect, usage = kept / 8 heads (dyadic, so sums are exact). */
function randomRun(n: number, seed: number, pCorrect = 0.7): { correct: Uint8Array; usage: Float64Array } {
  const r = rng(seed, 'run');
  return { correct: Uint8Array.from({ length: n }, () => (r.uniform() < pCorrect ? 1 : 0)), usage: Float64Array.from({ length: n }, () => r.int(5) / 8) };
}

test('a zero difference gives deltas 0 and a CI of [0, 0]', () => {
  const a = randomRun(500, 1);
  const d = pairedBootstrap(a, { correct: a.correct.slice(), usage: a.usage.slice() }, { seed: 3 });
  assert.equal(d.deltaAccuracy, 0);
  assert.equal(d.deltaUsage, 0);
  assert.deepEqual(d.ci95, { accuracy: [0, 0], usage: [0, 0] });
  assert.equal(d.n, 500);
  assert.equal(d.resamples, 1000);
});

test('a constant usage shift is the interval itself; a known accuracy gain lies inside its interval', () => {
  const n = 1000;
  const a = randomRun(n, 2, 0.5);
  // B: usage + 0.25 on every image; 100 images that A got wrong become correct (gain exactly 0.1).
  const correct = a.correct.slice();
  let flipped = 0;
  for (let i = 0; i < n && flipped < 100; i++) {
    if (correct[i] === 0) {
      correct[i] = 1;
      flipped++;
    }
  }
  const b = { correct, usage: a.usage.map((u) => u + 0.25) };
  const d = pairedBootstrap(a, b, { seed: 4 });
  assert.equal(d.deltaUsage, 0.25);
  assert.deepEqual(d.ci95.usage, [0.25, 0.25]);
  assert.ok(Math.abs(d.deltaAccuracy - 0.1) < 1e-12);
  const [lo, hi] = d.ci95.accuracy;
  assert.ok(lo < 0.1 && 0.1 < hi && lo > 0, `CI [${lo}, ${hi}] holds 0.1 and excludes 0`);
  // dc is Bernoulli(0.1) here: SE = sqrt(0.1 * 0.9 / 1000) = 0.0095, so the half width is about 0.0186.
  assert.ok(hi - lo > 0.03 && hi - lo < 0.045, `width ${hi - lo}`);
});

test('coverage: the 95% interval holds the true accuracy change in about 95% of simulated data sets', () => {
  // dc = +1 w.p. 0.15, -1 w.p. 0.05, 0 otherwise: true change 0.1; usage change N(0.02, ~0.1) per image.
  const n = 200;
  const reps = 200;
  let coveredAcc = 0;
  let coveredUse = 0;
  for (let t = 0; t < reps; t++) {
    const r = rng(7, 'coverage', t);
    const a: ImageOutcomes = { correct: new Uint8Array(n), usage: new Float64Array(n) };
    const b = { correct: new Uint8Array(n), usage: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      (a.correct as Uint8Array)[i] = u < 0.05 ? 1 : u < 0.2 ? 0 : r.int(2);
      b.correct[i] = u < 0.05 ? 0 : u < 0.2 ? 1 : a.correct[i]!;
      (a.usage as Float64Array)[i] = 0.5;
      b.usage[i] = 0.52 + 0.1 * (r.uniform() - 0.5) * Math.sqrt(12);
    }
    const d = pairedBootstrap(a, b, { seed: 8, stream: t, resamples: 500 });
    if (d.ci95.accuracy[0] <= 0.1 && 0.1 <= d.ci95.accuracy[1]) coveredAcc++;
    if (d.ci95.usage[0] <= 0.02 && 0.02 <= d.ci95.usage[1]) coveredUse++;
  }
  // Binomial SD of the rate over 200 data sets is ~1.5%.
  assert.ok(coveredAcc / reps > 0.89 && coveredAcc / reps < 0.99, `accuracy coverage ${coveredAcc / reps}`);
  assert.ok(coveredUse / reps > 0.89 && coveredUse / reps < 0.99, `usage coverage ${coveredUse / reps}`);
});

test('determinism: same seed and stream give the same result; another seed or stream another one', () => {
  const a = randomRun(300, 5);
  const b = randomRun(300, 6);
  const d1 = pairedBootstrap(a, b, { seed: 9, stream: 3 });
  assert.deepEqual(pairedBootstrap(a, b, { seed: 9, stream: 3 }), d1);
  assert.notDeepEqual(pairedBootstrap(a, b, { seed: 10, stream: 3 }).ci95, d1.ci95);
  assert.notDeepEqual(pairedBootstrap(a, b, { seed: 9, stream: 4 }).ci95, d1.ci95);
  assert.equal(pairedBootstrap(a, b, { seed: 10 }).deltaAccuracy, d1.deltaAccuracy, 'the point estimate does not depend on the seed');
});

test('imageOutcomes: correctness and usage per image, all images or one class', () => {
  const H = 4;
  const run = {
    predictions: Int32Array.from([0, 1, 1, 2, 0]),
    masks: Float32Array.from([1, 1, 1, 1, /**/ 1, 0, 0, 0, /**/ 0, 0, 0, 0, /**/ 1, 1, 0, 0, /**/ 0, 1, 1, 1]),
  };
  const labels = Int32Array.from([0, 1, 0, 2, 1]);
  const all = imageOutcomes(run, labels, H);
  assert.deepEqual(Array.from(all.correct), [1, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(all.usage), [1, 0.25, 0, 0.5, 0.75]);
  const c1 = imageOutcomes(run, labels, H, 1);
  assert.deepEqual(Array.from(c1.correct), [1, 0]);
  assert.deepEqual(Array.from(c1.usage), [0.25, 0.75]);
  assert.equal(imageOutcomes(run, labels, H, 9).correct.length, 0);
  assert.throws(() => imageOutcomes(run, labels.subarray(0, 4), H), /4 labels, but 5 predictions and 20 mask values/);
});

test('errors: length mismatch names the lengths; bad values, no images and bad R are RangeErrors', () => {
  const a = randomRun(10, 1);
  const b = randomRun(9, 2);
  assert.throws(
    () => pairedBootstrap(a, b, { seed: 1 }),
    (e: unknown) => e instanceof RangeError && /run A has 10 correct \/ 10 usage values and run B 9 \/ 9/.test(e.message),
  );
  assert.throws(() => pairedBootstrap({ correct: a.correct, usage: a.usage.subarray(0, 8) }, a, { seed: 1 }), /run A has 10 correct \/ 8 usage/);
  assert.throws(() => pairedBootstrap({ correct: [], usage: [] }, { correct: [], usage: [] }, { seed: 1 }), /no images/);
  assert.throws(() => pairedBootstrap({ correct: [2], usage: [0] }, { correct: [1], usage: [0] }, { seed: 1 }), /run A image 0: correct must be 0 or 1, got 2/);
  assert.throws(
    () => pairedBootstrap({ correct: [1], usage: [0] }, { correct: [1], usage: [1.5] }, { seed: 1 }),
    /run B image 0: usage must be in \[0, 1\], got 1.5/,
  );
  assert.throws(() => pairedBootstrap(a, a, { seed: 1, resamples: 0 }), /resamples must be a positive integer, got 0/);
});

test('speed: 1000 images x 1000 resamples well under 50 ms', () => {
  const a = randomRun(1000, 11);
  const b = randomRun(1000, 12);
  pairedBootstrap(a, b, { seed: 1 }); // warm-up (JIT)
  let best = Infinity;
  for (let t = 0; t < 5; t++) {
    const t0 = performance.now();
    pairedBootstrap(a, b, { seed: 1, stream: t });
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`# pairedBootstrap 1000 x 1000: best of 5 ${best.toFixed(2)} ms`);
  assert.ok(best < 50, `${best.toFixed(2)} ms`);
});
