/**
 * Analytic FLOPs (src/eval/flops.ts) against a count by hand for a tiny ViT: 4x4 image, 2x2 patches
 * (T 4, N 5, C P P 4), width 4, 2 heads (Dh 2), MLP 8, 3 classes, 2 layers, a gate on layer 1 only.
 * Exact integers, so equality is exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockFlops, finalLayerFlops, flopsReport, imageFlops, total } from '../../src/eval/flops.js';
import type { ViTConfig } from '../../src/model/config.js';

const tiny: ViTConfig = {
  imgSize: 4,
  patchSize: 2,
  inChans: 1,
  numClasses: 3,
  embedDim: 4,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  qkvBias: true,
  gatedLayers: [1],
};

// By hand: qkv 3*2*5*4*4 = 480, attention 2*2*2*5*5*2 = 400, proj 2*5*4*4 = 160, mlp 2*2*5*4*8 = 640.
const BLOCK = 480 + 400 + 160 + 640;
const PATCH = 2 * 4 * 4 * 4; // 128
const HEAD = 2 * 4 * 3; // 24
const GATE = 2 * 4 * 2; // 16

test('a block with every head, half of them and none, by hand', () => {
  assert.deepEqual(blockFlops(tiny, 2, false), { patchEmbed: 0, qkv: 480, attention: 400, proj: 160, mlp: 640, gate: 0, head: 0 });
  assert.deepEqual(blockFlops(tiny, 1, true), { patchEmbed: 0, qkv: 240, attention: 200, proj: 80, mlp: 640, gate: GATE, head: 0 });
  assert.equal(total(blockFlops(tiny, 0, true)), 640 + GATE, 'every head off: the MLP and the gate remain');
});

test('whole image: dense, masked and skipping', () => {
  assert.equal(total(imageFlops(tiny, [2, 2], false)), PATCH + HEAD + 2 * BLOCK);
  const r = flopsReport(
    tiny,
    [1, 0.5],
    [
      [1, 0.5],
      [1, 0],
      [1, 1],
    ],
  );
  assert.equal(r.dense, 3512);
  assert.equal(r.masked, 3512 + GATE, 'masked computes every head and runs the gate');
  const layer1 = 240 + 200 + 80 + 640 + GATE; // 1176
  assert.equal(r.pruned, PATCH + HEAD + BLOCK + layer1);
  assert.equal(r.savedFraction, 1 - (PATCH + HEAD + BLOCK + layer1) / 3512);
  assert.deepEqual(r.perLayer, [
    { dense: BLOCK, pruned: BLOCK },
    { dense: BLOCK, pruned: layer1 },
  ]);
  assert.deepEqual(r.perClass, [PATCH + HEAD + BLOCK + layer1, PATCH + HEAD + BLOCK + 640 + GATE, PATCH + HEAD + 2 * BLOCK + GATE]);
  assert.equal(total(r.parts.dense), r.dense);
  assert.equal(total(r.parts.pruned), r.pruned);
  assert.equal(r.parts.pruned.gate, GATE);
});

test('final-layer FLOPs line: equals a fresh count at any final-layer usage, the other layers held', () => {
  const r = flopsReport(tiny, [1, 0.5], [[1, 0.5]]);
  const at = finalLayerFlops(r, 0.5);
  for (const u of [0, 0.25, 0.5, 1]) assert.equal(at(u), total(imageFlops(tiny, [2, 2 * u], true)), `u = ${u}`);
  const perClass = flopsReport(
    tiny,
    [1, 0.5],
    [
      [1, 0.5],
      [1, 0],
    ],
  );
  const cls1 = finalLayerFlops(perClass, 0, 1);
  for (const u of [0, 0.5, 1]) assert.equal(cls1(u), total(imageFlops(tiny, [2, 2 * u], true)), `class 1, u = ${u}`);
  assert.throws(() => finalLayerFlops(perClass, 0, 2), /no FLOPs for class 2 \(the report has 2\)/);
});

test('a dense model (no gates, usage 1) saves nothing', () => {
  const r = flopsReport({ ...tiny, gatedLayers: [] }, [1, 1], [[1, 1]]);
  assert.equal(r.pruned, r.dense);
  assert.equal(r.masked, r.dense);
  assert.equal(r.savedFraction, 0);
});

test("the issue's estimate: 30% of heads skipped saves about 10% at 17 tokens (default model)", () => {
  const def: ViTConfig = {
    ...tiny,
    imgSize: 28,
    patchSize: 7,
    numClasses: 10,
    embedDim: 96,
    depth: 6,
    numHeads: 6,
    mlpRatio: 4,
    gatedLayers: [0, 1, 2, 3, 4, 5],
  };
  const r = flopsReport(def, Array(6).fill(0.7), []);
  assert.ok(r.savedFraction > 0.09 && r.savedFraction < 0.12, `saved ${r.savedFraction}`);
});

test('ViT-S/16 at 224 (DeiT-S): 4.6 GMACs, the figure its paper gives', () => {
  const vitS: ViTConfig = {
    ...tiny,
    imgSize: 224,
    patchSize: 16,
    inChans: 3,
    numClasses: 1000,
    embedDim: 384,
    depth: 12,
    numHeads: 6,
    mlpRatio: 4,
    gatedLayers: [],
  };
  const gmacs = flopsReport(vitS, Array(12).fill(1), []).dense / 2e9;
  assert.ok(Math.abs(gmacs - 4.6) < 0.05, `${gmacs} GMACs`);
});
