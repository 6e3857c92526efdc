/**
 * Which layers steering acts on (src/steer/layers.ts): 'final' adds none, 'all' every gated layer but
 * layer 0 (whose gate input is the same for every image), explicit layers as given (sorted, distinct);
 * a layer without a gate, and layer 0, are one-line UserErrors; the flags parse or name the bad token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { extraLayers, parseLayer, parseLayerSpec, steeredLayers } from '../../src/steer/layers.js';

const model = { depth: 4, gatedLayers: [3, 0, 1, 2] };
const userError =
  (re: RegExp) =>
  (e: unknown): boolean =>
    e instanceof UserError && re.test(e.message) && !e.message.includes('\n');

test("'final' steers no extra layer, 'all' every gated layer but 0, explicit ones sorted and distinct", () => {
  assert.deepEqual(steeredLayers('final', model, 'x'), []);
  assert.deepEqual(steeredLayers('all', model, 'x'), [1, 2, 3]);
  assert.deepEqual(steeredLayers('all', { depth: 4, gatedLayers: [1, 3] }, 'x'), [1, 3]);
  assert.deepEqual(steeredLayers([3, 1, 3], model, 'x'), [1, 3]);
  assert.deepEqual(extraLayers('all', model, 'x'), [1, 2], 'the final layer has its own features already');
  assert.deepEqual(extraLayers([3], model, 'x'), []);
});

test('a layer without a gate, and layer 0, are one-line UserErrors naming where', () => {
  assert.throws(
    () => steeredLayers([7], model, 'steer.layers'),
    userError(/^steer\.layers: layer 7 has no decision network \(gated layers: \[0, 1, 2, 3\] of 4\)$/),
  );
  assert.throws(() => steeredLayers([2], { depth: 4, gatedLayers: [1, 3] }, 'ckpt'), userError(/ckpt: layer 2 has no decision network/));
  assert.throws(() => steeredLayers([0, 2], model, 'x'), userError(/layer 0's gate reads the CLS token before any attention, the same vector for every image/));
});

test('flags: final, all, index lists; bad tokens named', () => {
  assert.equal(parseLayerSpec('all'), 'all');
  assert.equal(parseLayerSpec(' final '), 'final');
  assert.deepEqual(parseLayerSpec('2, 1'), [2, 1]);
  assert.equal(parseLayer('3'), 3);
  assert.throws(() => parseLayerSpec('1,x'), userError(/--layers: '1,x' is not 'final', 'all' or layer indices/));
  assert.throws(() => parseLayerSpec(''), userError(/--layers/));
  assert.throws(() => parseLayer('-1'), userError(/--layer: '-1' is not a layer index/));
});
