/**
 * Shared helpers of the data tests: temp folders of crafted files, the one-line-UserError check,
 * and IDX byte building. No tests here and nothing runs at import time.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';

/** A factory of temp dirs and the cleanup that removes them all. */
export interface TempDirs {
  /**
   * A fresh temp dir `headsteer-<prefix>-XXXXXX` holding the given files.
   * @param files file name (may contain one subfolder, e.g. `sub/name`) -> contents.
   * @returns the dir's path.
   */
  craft(files: Record<string, Uint8Array | string>): string;
  /** Remove every dir `craft` made; pass it to `after()`. */
  cleanup(): void;
}

/**
 * Temp dirs for one test file; register `cleanup` with that file's `after()`.
 * @param prefix names the dirs, `headsteer-<prefix>-XXXXXX`, so leftovers show which file made them.
 */
export function tempDirs(prefix: string): TempDirs {
  const dirs: string[] = [];
  return {
    craft(files) {
      const dir = mkdtempSync(join(tmpdir(), `headsteer-${prefix}-`));
      dirs.push(dir);
      for (const [name, bytes] of Object.entries(files)) {
        if (name.includes('/')) mkdirSync(join(dir, name.split('/')[0] ?? ''), { recursive: true });
        writeFileSync(join(dir, name), bytes);
      }
      return dir;
    },
    cleanup() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** All entries under `dir`, recursively, as sorted relative paths (subfolders listed too). */
export function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/**
 * Assert `fn` throws a UserError whose message is one line and matches every pattern, and that
 * `dir` then holds exactly `files` (compared recursively, in any order): the failure wrote nothing.
 * @param files the expected entries as relative paths, e.g. `listing(dir)` taken beforehand.
 */
export function assertUserError(fn: () => unknown, patterns: RegExp[], dir: string, files: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'message is one line');
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
  assert.deepEqual(listing(dir), [...files].sort(), 'nothing written');
}

/** Bytes of an IDX file: big-endian magic and dims, then data. */
export function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  out.set(data, 4 + 4 * dims.length);
  return out;
}
