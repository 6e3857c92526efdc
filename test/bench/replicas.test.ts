/** The vitTrainDP item's loop rate: whole steps after the warm-up over their wall time, from metrics.jsonl. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopRate } from '../../bench/replicas.js';

test('loopRate counts the steps after `from` over the time they took, and ignores epoch rows', () => {
  const rows = [
    { kind: 'train', step: 10, time: 2 },
    { kind: 'train', step: 20, time: 3 },
    { kind: 'epoch', step: 25 },
    { kind: 'train', step: 30, time: 4.5 },
  ];
  const jsonl = rows.map((r) => JSON.stringify(r)).join('\n');
  assert.deepEqual(loopRate(jsonl, 128, 10), { perSec: (20 * 128) / 2.5, steps: 20 });
  assert.throws(() => loopRate(jsonl, 128, 30), /no training step after step 30/);
});
