/**
 * The explorer's compute queue (src/explore/queue.ts): identical keys share one job, a full queue
 * refuses with a Retry-After in whole seconds, a failing job rejects only its own requests, and the
 * event loop gets a turn between two jobs (where the server answers the page and grid points).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeQueue, QueueFull } from '../../src/explore/queue.js';

test('identical keys share one job; a full queue throws QueueFull with retryAfter >= 1 s', async () => {
  const q = computeQueue(1);
  let calls = 0;
  const a = q.run('a', () => ++calls);
  const b = q.run('a', () => ++calls);
  assert.throws(
    () => q.run('b', () => 0),
    (e: unknown) => e instanceof QueueFull && e.retryAfter >= 1 && Number.isInteger(e.retryAfter),
  );
  assert.deepEqual(await Promise.all([a, b]), [1, 1]);
  assert.equal(calls, 1);
  assert.equal(q.size, 0);
  assert.equal(await q.run('b', () => 2), 2, 'room again once the job is done');
});

test('capacity 0 refuses every job', () => {
  assert.throws(() => computeQueue(0).run('a', () => 1), QueueFull);
});

test('a failing job rejects its own requests only; other I/O runs between two jobs', async () => {
  const q = computeQueue(4);
  const log: string[] = [];
  const bad = q.run('bad', () => {
    log.push('bad');
    setImmediate(() => log.push('io'));
    throw new Error('boom');
  });
  const good = q.run('good', () => {
    log.push('good');
    return 7;
  });
  await assert.rejects(bad, /boom/);
  assert.equal(await good, 7);
  assert.deepEqual(log, ['bad', 'io', 'good']);
});
