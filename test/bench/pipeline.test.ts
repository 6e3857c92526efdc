/**
 * bench/pipeline.ts: which of `headsteer run`'s stderr lines start and finish a stage, and the stage
 * times taken from the moments those lines arrive (progress bars and other lines are ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stageEvent, stageSeconds } from '../../bench/pipeline.js';

test('stageEvent: start, redo and done lines; a skipped stage and other lines are not events', () => {
  assert.deepEqual(stageEvent('[2/9] pretrain'), { stage: 'pretrain', event: 'start' });
  assert.deepEqual(stageEvent('[4/9] extract: stale, the pruned model changed; redoing it'), { stage: 'extract', event: 'start' });
  assert.deepEqual(stageEvent('[2/9] pretrain: done in 1m02s'), { stage: 'pretrain', event: 'done' });
  assert.equal(stageEvent('[2/9] pretrain: already complete, skipped'), null);
  assert.equal(stageEvent('steer    |████████████████████████| 1/1 |  | ETA 0s'), null);
  assert.equal(stageEvent('  fashion-mnist: 60000 train / 10000 test images'), null);
});

test('stageSeconds: from each start line to its done line, in order; a stage never finished is left out', () => {
  const lines = [
    { ms: 0, line: '[1/9] data' },
    { ms: 500, line: '[1/9] data: done in 0.5s' },
    { ms: 500, line: '[2/9] pretrain' },
    { ms: 1200, line: 'pretrain |███| 10/94 | loss 1.2' },
    { ms: 20_500, line: '[2/9] pretrain: done in 20.0s' },
    { ms: 20_500, line: '[3/9] prune' },
  ];
  assert.deepEqual(stageSeconds(lines), [
    { stage: 'data', seconds: 0.5 },
    { stage: 'pretrain', seconds: 20 },
  ]);
});
