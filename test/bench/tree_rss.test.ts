/**
 * bench/tree_rss.ts: a process tree's summed RSS counts the root and its children, and nothing of a
 * process that is not in the tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { treeRssKb } from '../../bench/tree_rss.js';

test('treeRssKb: the root alone, then the root with a child that holds 64 MB more', async () => {
  const ownKb = process.memoryUsage().rss / 1024;
  const alone = treeRssKb(process.pid);
  assert.ok(alone > 0.5 * ownKb && alone < 2 * ownKb, `${alone} kB against this process's ${ownKb} kB`);
  assert.equal(treeRssKb(2 ** 30), 0, 'no such process');

  const child = spawn(process.execPath, ['-e', 'const b = Buffer.alloc(64 * 2 ** 20, 1); console.log("ready"); setInterval(() => b[0]++, 1000);'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const withChild = treeRssKb(process.pid);
    const childKb = treeRssKb(child.pid!);
    assert.ok(childKb > 64 * 1024, `child ${childKb} kB`);
    assert.ok(withChild >= childKb + 0.5 * ownKb, `tree ${withChild} kB, child ${childKb} kB`);
  } finally {
    child.kill();
  }
});
