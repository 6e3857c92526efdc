/**
 * The CLI turns bad input into one clear line on stderr and exit code 2, without a stack trace and
 * without writing anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function cli(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** stderr minus the engine notice: exactly one `headsteer: ...` line. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('engine:'));
  assert.equal(lines.length, 1, `one error line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\bat .*\.js:\d+/, 'no stack trace');
  return lines[0]!;
}

test('bad input to training verbs: one line, exit 2, no run folder written', () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-cli-'));
  try {
    const bad = join(root, 'bad-idx');
    const out = join(root, 'run');
    rmSync(bad, { recursive: true, force: true });
    const cases: Array<{ args: string[]; expect: RegExp; setup?: () => void }> = [
      { args: ['pretrain', '--preset', 'nope', '--out', out], expect: /unknown preset 'nope' \(allowed: smoke, default, mnist, paper\)/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', 'model.depht=3', '--out', out], expect: /unknown key\(s\) 'depht' at model/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', 'pretrain.lr=-1', '--out', out], expect: /pretrain\.lr/ },
      {
        args: ['pretrain', '--preset', 'default', '--data-dir', bad, '--out', out],
        expect: /train-images-idx3-ubyte.*(magic|truncated)|magic/i,
        setup: () => {
          mkdirSync(bad, { recursive: true });
          for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
            writeFileSync(join(bad, f), Buffer.from([0, 0, 9, 9, 0, 0, 0, 1]));
        },
      },
      { args: ['prune', '--out', out], expect: /checkpoint folder .*dense does not exist; run `headsteer pretrain` to create it/ },
      { args: ['eval', '--checkpoint', join(root, 'nowhere')], expect: /nowhere does not exist/ },
      { args: ['data', '--dataset', 'cifar10', '--data-dir', join(root, 'missing')], expect: /missing/ },
    ];
    for (const c of cases) {
      c.setup?.();
      const r = cli(c.args);
      assert.equal(r.status, 2, `${c.args.join(' ')}: exit code\n${r.stderr}`);
      assert.match(errorLine(r.stderr), c.expect, c.args.join(' '));
      assert.ok(!existsSync(out), `${c.args.join(' ')}: wrote nothing`);
    }
    assert.deepEqual(readdirSync(root).sort(), ['bad-idx']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
