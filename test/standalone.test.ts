/**
 * The repository stands alone: no test, script, bench or source file reaches outside the clone (a
 * `shared/` folder beside it, or an absolute path of one machine). A user's clone is the only copy
 * they have, so such a path passes here and fails for them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './fixtures.js';

const SCANNED = ['src', 'test', 'scripts', 'bench', 'docs', '.ci'];
const TEXT = /\.(ts|mjs|js|py|sh|md|wat|json)$|^run$/;
/**
 * Paths that only exist on one machine's layout: a sibling `shared/` folder, an absolute home/work path,
 * or the workspace's design notes, whose content lives in docs/ here.
 */
const OUTSIDE = [/\.\.\/shared\b/, /(^|[\s'"`(])\/(work|home|root|Users)\/[\w.-]+/, /\b(DESIGN|STYLE)\.md\b/];

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (TEXT.test(e.name)) yield p;
  }
}

test('no file in src/, test/, scripts/, bench/, docs/ or .ci/ points outside the repository', () => {
  const self = relative(REPO_ROOT, join(REPO_ROOT, 'test', 'standalone.test.ts'));
  const hits: string[] = [];
  for (const top of SCANNED) {
    let all: string[];
    try {
      all = [...files(join(REPO_ROOT, top))];
    } catch {
      continue; // a folder this checkout lacks
    }
    for (const f of all) {
      const rel = relative(REPO_ROOT, f);
      if (rel === self) continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (OUTSIDE.some((re) => re.test(line))) hits.push(`${rel}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
    }
  }
  assert.deepEqual(hits, [], `paths outside the repository:\n${hits.join('\n')}`);
});

test('every docs/ page the code points to exists', () => {
  const missing = new Set<string>();
  for (const top of ['src', 'test', 'bench', 'scripts']) {
    for (const f of files(join(REPO_ROOT, top))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bdocs\/([\w-]+\.md)\b/g)) {
        if (!existsSync(join(REPO_ROOT, 'docs', m[1]!))) missing.add(`${relative(REPO_ROOT, f)} -> docs/${m[1]}`);
      }
    }
  }
  assert.deepEqual([...missing], []);
});

test('the scan catches what it looks for', () => {
  for (const bad of ["const F = '/work/shared/fixtures/timm';", 'see ../shared/fixtures', 'open("/home/me/x.bin")', 'as DESIGN.md fixes it']) {
    assert.ok(
      OUTSIDE.some((re) => re.test(bad)),
      bad,
    );
  }
  for (const ok of ["join(REPO_ROOT, 'test')", 'a/b/c', 'https://github.com/x/y', '/usr/share/datasets/fashion-mnist']) {
    assert.ok(!OUTSIDE.some((re) => re.test(ok)), ok);
  }
});
