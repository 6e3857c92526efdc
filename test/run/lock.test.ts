/**
 * The run folder's lock (src/run/lock.ts): one holder at a time, named to the second taker; a lock
 * whose process is gone is taken over; release removes the lock, and the folder when the lock made it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { lockPath, lockRun } from '../../src/run/lock.js';

function withRoot(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-lock-'));
  try {
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('a second taker is refused with the holder; release frees the lock and removes the folder it made', () => {
  withRoot((root) => {
    const run = join(root, 'runs', 'run');
    const first = lockRun(run, 'run');
    assert.equal(JSON.parse(readFileSync(lockPath(run), 'utf8')).pid, process.pid);
    assert.throws(
      () => lockRun(run, 'stats'),
      (e: unknown) => e instanceof UserError && e.message.includes(`is in use by pid ${process.pid} (run, since`),
    );
    first.release();
    assert.ok(!existsSync(join(root, 'runs')), 'the empty folders the lock made are gone');
    const again = lockRun(run, 'stats');
    writeFileSync(join(run, 'kept'), 'x');
    again.release();
    assert.ok(existsSync(join(run, 'kept')) && !existsSync(lockPath(run)), 'a folder the verb wrote into stays');
  });
});

test('a lock whose process is gone is taken over and reported; one on another host is refused', () => {
  withRoot((root) => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    writeFileSync(lockPath(root), JSON.stringify({ pid: dead, host: hostname(), verb: 'prune', since: 'then' }));
    const lock = lockRun(root, 'run');
    assert.equal(lock.tookOver?.pid, dead);
    lock.release();
    writeFileSync(lockPath(root), JSON.stringify({ pid: 1, host: `${hostname()}-elsewhere`, verb: 'run', since: 'then' }));
    assert.throws(() => lockRun(root, 'run'), /locked by pid 1 \(run\) on host .*-elsewhere; if that run is over, remove .*\.lock/);
  });
});
