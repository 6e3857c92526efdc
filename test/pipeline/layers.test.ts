/**
 * The source's layers (docs/conventions.md): no import cycle between files; `src/pipeline/` only
 * orchestrates stages, so nothing but the CLI imports it (the explorer and the report read a run through
 * src/run/layout.ts and the domains); io/ names no CLI verb; train/ knows neither the pipeline nor the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../fixtures.js';

const SRC = join(REPO_ROOT, 'src');

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** src-relative path -> the src-relative paths it imports (static and dynamic, relative specifiers). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)\.js'/g)].map((m) => relative(SRC, resolve(dirname(file), `${m[1]!}.ts`)));
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

/** Every import cycle, as the files of one strongly connected component (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = importGraph();
const importers = (prefix: string): string[] =>
  [...graph]
    .filter(([f, deps]) => !f.startsWith(prefix) && deps.some((d) => d.startsWith(prefix)))
    .map(([f]) => f)
    .sort();

test('no import cycle between source files', () => {
  assert.ok(graph.size > 50, `read ${graph.size} files under ${SRC}`);
  assert.deepEqual(cycles(graph), []);
});

test('no import cycle between folders: the domains never import the run config that composes their sections', () => {
  // A folder is its top-level part under src/ (src/config.ts is its own room).
  const room = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);
  const folders = new Map<string, string[]>();
  for (const [f, deps] of graph) {
    const from = room(f);
    const to = deps.map(room).filter((d) => d !== from);
    folders.set(from, [...new Set([...(folders.get(from) ?? []), ...to])]);
  }
  assert.deepEqual(cycles(folders), []);
});

test('only the CLI imports pipeline/: explore/ and report/ read a run through the layout module and the domains', () => {
  assert.deepEqual(
    importers('pipeline/').filter((f) => !f.startsWith('cli/')),
    [],
  );
  assert.ok(importers('run/').some((f) => f.startsWith('explore/')) && importers('run/').some((f) => f.startsWith('report/')));
});

test('train/ imports neither pipeline/ nor cli/, and io/ names no CLI verb', () => {
  const train = [...graph].filter(([f]) => f.startsWith('train/'));
  assert.deepEqual(
    train.flatMap(([f, deps]) => deps.filter((d) => d.startsWith('pipeline/') || d.startsWith('cli/')).map((d) => `${f} -> ${d}`)),
    [],
  );
  const code = (f: string): string => readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, ''); // doc comments may give examples
  const io = [...sources(join(SRC, 'io'))].filter((f) => /headsteer (pretrain|prune|extract|sae|stats|steer|report)\b/.test(code(f)));
  assert.deepEqual(
    io.map((f) => relative(SRC, f)),
    [],
  );
});

test('the cycle finder finds a cycle', () => {
  const g = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
  ]);
  assert.deepEqual(cycles(g), [['a.ts', 'b.ts', 'c.ts']]);
});
