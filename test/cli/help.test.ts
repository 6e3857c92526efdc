/** The `headsteer` bin runs as an executable and its help lists every pipeline verb with one line each. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const VERBS = [
  'run',
  'data',
  'pretrain',
  'prune',
  'eval',
  'import-timm',
  'infer',
  'extract',
  'sae',
  'stats',
  'latents',
  'steer',
  'explore',
  'report',
  'compare',
];

test('headsteer --help lists every verb', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' }); // executed directly: needs the shebang and +x
  assert.equal(r.status, 0, r.stderr);
  for (const verb of VERBS) assert.match(r.stdout, new RegExp(`^  ${verb}\\b`, 'm'), `${verb} is listed`);
});
