/**
 * The report's compute tables (src/report/table_flops.ts) on the smoke fixture run: with FLOPs in
 * pruned/eval.json the statement and both tables carry its numbers; without them (eval.json written
 * before FLOPs were counted) a notice names the command that adds them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flopsReport } from '../../src/eval/flops.js';
import { parseViTConfig } from '../../src/model/config.js';
import { loadRunInputs } from '../../src/report/inputs.js';
import { flopsTables } from '../../src/report/table_flops.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');

function withRun(edit: (run: string) => void, check: (html: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-flops-'));
  try {
    const run = join(dir, 'run');
    cpSync(FIXTURE, run, { recursive: true });
    edit(run);
    check(flopsTables(loadRunInputs(run)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('FLOPs in eval.json: statement, by part and by layer', () => {
  withRun(
    (run) => {
      const path = join(run, 'pruned/eval.json');
      const e = JSON.parse(readFileSync(path, 'utf8')) as { headUsage: { perLayer: number[] }; perClassAccuracy: number[] };
      const c = parseViTConfig((JSON.parse(readFileSync(join(run, 'pruned/config.json'), 'utf8')) as { model: unknown }).model, 'fixture');
      const flops = flopsReport(
        c,
        e.headUsage.perLayer,
        e.perClassAccuracy.map(() => e.headUsage.perLayer),
      );
      writeFileSync(path, JSON.stringify({ ...e, flops }));
    },
    (html) => {
      assert.match(html, /Skipping the pruned heads costs \d+\.\d{3} MFLOPs per test image/);
      assert.match(html, /<caption>FLOPs per image by part/);
      assert.equal((html.match(/<th>layer \d<\/th>/g) ?? []).length, 2, 'one row per layer of the smoke model');
      for (const part of ['patch embedding', 'MLP', 'decision networks (gates)', 'total']) assert.ok(html.includes(`<th>${part}</th>`), part);
    },
  );
});

test('eval.json without FLOPs: a notice naming the command', () => {
  withRun(
    () => undefined,
    (html) => {
      assert.match(html, /class="notice missing"/);
      assert.ok(html.includes('<code>headsteer eval --checkpoint &lt;run&gt;/pruned</code>'), html);
    },
  );
});
