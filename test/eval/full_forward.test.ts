/** Test-set evaluation and the random-policy report shared by data-parallel replicas give what one process gives. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunData, resolveConfig } from '../../src/config.js';
import { initEngine } from '../../src/engine/backend.js';
import { evaluate, evaluateReport, evaluateReportShared, evaluateShared, type SharedProcess } from '../../src/eval/full_forward.js';
import { ViT } from '../../src/model/vit.js';
import { modelConfigFor } from '../../src/pipeline/train.js';

before(async () => {
  await initEngine();
});

/** `count` in-process replicas whose allReduce resolves, for all of them, once each has called it. */
function replicas(count: number): SharedProcess[] {
  const waiting: Array<{ values: Float32Array; resolve: (mean: Float32Array) => void }> = [];
  const allReduce = (values: Float32Array): Promise<Float32Array> =>
    new Promise((resolve) => {
      waiting.push({ values, resolve });
      if (waiting.length < count) return;
      const mean = new Float32Array(values.length);
      for (const w of waiting) for (let i = 0; i < mean.length; i++) mean[i]! += w.values[i]!;
      for (let i = 0; i < mean.length; i++) mean[i]! /= count;
      for (const w of waiting.splice(0)) w.resolve(mean);
    });
  return Array.from({ length: count }, (_, index) => ({ index, count, allReduce }));
}

test('evaluateShared over 2 and 3 replicas equals evaluate in one process (gated smoke model, odd test count)', async () => {
  const cfg = resolveConfig('smoke', ['data.procedural.test=101']);
  const ds = loadRunData(cfg);
  const model = new ViT(modelConfigFor(cfg, ds, [0, 1]), 0, 0);
  try {
    const one = evaluate(model, ds.test, ds, 16);
    assert.ok(one.headUsage.overall > 0 && one.headUsage.overall < 1, `the gates keep some heads and drop others: ${one.headUsage.overall}`);
    for (const count of [2, 3]) {
      const shared = await Promise.all(replicas(count).map((r) => evaluateShared(model, ds.test, ds, 16, r)));
      for (const s of shared) assert.deepEqual(s, one, `${count} replicas`);
    }
  } finally {
    model.dispose();
  }
});

test('the random-policy report over 2 and 3 replicas equals that of one process: the same masks per batch (gated layers out of order, 7 batches)', async () => {
  const cfg = resolveConfig('smoke', ['data.procedural.test=101']);
  const ds = loadRunData(cfg);
  const model = new ViT(modelConfigFor(cfg, ds, [1, 0]), 0, 0);
  try {
    const learned = evaluate(model, ds.test, ds, 16);
    const one = evaluateReport(model, ds, 16, 5, learned);
    assert.ok(one.randomPolicy !== undefined, 'a gated model gets a random policy');
    assert.notDeepEqual(one.randomPolicy.headUsage.perLayer, learned.headUsage.perLayer, 'masks drawn at random, not the gates');
    for (const count of [2, 3]) {
      const shared = await Promise.all(replicas(count).map((r) => evaluateReportShared(model, ds, 16, 5, learned, r)));
      for (const s of shared) assert.deepEqual(s, one, `${count} replicas`);
    }
  } finally {
    model.dispose();
  }
});
