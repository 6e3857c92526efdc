/**
 * Extraction shared by processes (src/pipeline/extract.ts): shares are contiguous runs of whole batches
 * that cover a split, and the rows of 2 or 3 processes' shares, placed, are one process's features bit
 * for bit, every array included (keys and values of the test split, an extra layer's CLS). Here every share
 * runs in this process; test/pipeline/run.test.ts runs them in replica processes.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/config.js';
import { makeProcedural } from '../../src/data/procedural.js';
import { initEngine } from '../../src/engine/backend.js';
import { ViT } from '../../src/model/vit.js';
import { extractShare, shareOf, type ExtractSpec } from '../../src/pipeline/extract.js';
import { emptyFeatures, extractSplit, placeRows } from '../../src/steer/features.js';

before(async () => {
  await initEngine();
});

test('shares are contiguous runs of whole batches that cover the split, in order', () => {
  for (const [n, batch, count] of [
    [70000, 128, 2],
    [10000, 128, 3],
    [30, 8, 2],
    [30, 8, 3],
    [5, 8, 2], // fewer batches than processes: one share is empty
  ] as const) {
    const shares = Array.from({ length: count }, (_, i) => shareOf(n, batch, i, count));
    assert.equal(shares[0]![0], 0);
    assert.equal(shares[count - 1]![1], n);
    shares.forEach(([start, end], i) => {
      assert.ok(start <= end, `${n}/${batch}/${count}: share ${i} is [${start}, ${end})`);
      assert.equal(start % batch, 0, 'starts on a batch boundary');
      if (i > 0) assert.equal(start, shares[i - 1]![1], 'follows the previous share');
    });
  }
});

test("the rows of 2 or 3 shares, placed, are one process's features bit for bit", () => {
  const ds = makeProcedural(4, { classes: 3, size: 12, channels: 1, train: 37, test: 30 });
  const model = new ViT(
    { imgSize: 12, patchSize: 4, inChans: 1, numClasses: 3, embedDim: 24, depth: 3, numHeads: 4, mlpRatio: 2, qkvBias: true, gatedLayers: [0, 1, 2] },
    5,
    0,
  );
  const cfg = resolveConfig('smoke');
  const spec: ExtractSpec = { checkpoint: '(in memory)', cfg: { ...cfg, eval: { batchSize: 8 } }, layers: [1] };
  try {
    const one = (split: 'train' | 'test') => extractSplit(model, ds[split], ds, { batchSize: 8, withCache: split === 'test', layers: [1] });
    const whole = { train: one('train'), test: one('test') };
    assert.ok(whole.test.k !== undefined && whole.train.k === undefined, 'the test split carries the cache');
    for (const count of [2, 3]) {
      const dims = { D: 24, H: 4, T: model.dims.numTokens };
      const placed = { train: emptyFeatures(new Int32Array(37), dims, false, [1]), test: emptyFeatures(new Int32Array(30), dims, true, [1]) };
      for (let i = 0; i < count; i++) for (const { split, start, rows } of extractShare(model, ds, spec, i, count)) placeRows(placed[split], rows, start);
      assert.deepEqual(placed, whole, `${count} shares`);
    }
  } finally {
    model.dispose();
  }
});
