/**
 * Resumable training on the smoke preset: a `pretrain` killed with SIGKILL mid-run and rerun with
 * --resume ends with exactly the weights of an uninterrupted run (bitwise), and the CLI refuses to
 * clobber finished or interrupted work without --force / --resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function stepOf(dir: string): number {
  try {
    return Number((JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { step: number }).step);
  } catch {
    return -1;
  }
}

test('kill -9 mid-pretrain, then --resume: same final weights as an uninterrupted run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-resume-'));
  try {
    const args = ['pretrain', '--preset', 'smoke', '--set', 'pretrain.epochs=2', '--set', 'pretrain.checkpointEvery=10'];
    const a = cli([...args, '--out', join(root, 'a')]);
    assert.equal(a.status, 0, a.stderr);

    const bDense = join(root, 'b', 'dense');
    const child = spawn(process.execPath, [CLI, ...args, '--out', join(root, 'b')], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let killedAt = -1;
    while (killedAt < 0) {
      await new Promise((r) => setTimeout(r, 5));
      if (stepOf(bDense) >= 20) {
        child.kill('SIGKILL');
        killedAt = stepOf(bDense);
      }
      if (child.exitCode !== null) break;
    }
    await exited;
    assert.ok(killedAt >= 20, 'the run was killed after a mid-run checkpoint');
    assert.ok(!existsSync(join(bDense, 'eval.json')), 'the killed run did not finish');

    const refused = cli([...args, '--out', join(root, 'b')]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /interrupted pretrain run \(step \d+ of 124\); pass --resume/);

    const resumed = cli([...args, '--out', join(root, 'b'), '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming at step \d+/);
    const wa = readFileSync(join(root, 'a', 'dense', 'weights.safetensors'));
    const wb = readFileSync(join(bDense, 'weights.safetensors'));
    assert.ok(wa.equals(wb), 'resumed weights are bitwise identical to the uninterrupted run');

    const again = cli([...args, '--out', join(root, 'b')]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already holds a finished pretrain model; pass --force/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
