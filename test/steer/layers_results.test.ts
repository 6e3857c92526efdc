/**
 * The schema of steer/layers.json (src/steer/layers_results.ts): a well-formed file validates; a typo'd
 * key, a per-layer vector of the wrong length, a point at a layer not steered, a steered layer without a
 * gate and a layerUsage that is not perLayerUsage[layer] each fail with one line naming the key path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { validateLayersResults, type LayersResults } from '../../src/steer/layers_results.js';
import { layersSample } from '../report/synthetic.js';

const fails = (mutate: (r: Record<string, unknown> & LayersResults) => void, re: RegExp): void => {
  const r = layersSample() as Record<string, unknown> & LayersResults;
  mutate(r);
  assert.throws(
    () => validateLayersResults(r, 'layers.json'),
    (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'),
    re.source,
  );
};

test('a well-formed file validates', () => {
  assert.deepEqual(validateLayersResults(layersSample(), 'layers.json'), layersSample());
});

test('bad files fail with the key path', () => {
  fails((r) => Object.assign(r.points[0]!, { acuracy: 1 }), /^layers\.json: points\.0: unknown key\(s\) 'acuracy'$/);
  fails((r) => r.points[1]!.perLayerUsage.pop(), /points\.1\.perLayerUsage: expected 3 per-layer usages \(depth\), got 2/);
  fails((r) => r.baseline.perClass[1]!.perLayerUsage.push(1), /baseline\.perClass\.1\.perLayerUsage/);
  fails((r) => {
    r.points[0]!.layer = 0;
  }, /points\.0\.layer: layer 0 is not among the steered layers \[1, 2\]/);
  fails((r) => {
    r.layers = [0, 1, 2];
  }, /layers\.0: layer 0 has no decision network/);
  fails((r) => {
    r.points[2]!.layerUsage = 0.1;
  }, /points\.2\.layerUsage: expected perLayerUsage\[1\] = 0\.65/);
  fails((r) => {
    r.points[0]!.knob = 'thresold' as 'threshold';
  }, /points\.0\.knob/);
});
