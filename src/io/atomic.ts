/**
 * Crash-safe file writes and checked JSON reads.
 *
 * An atomic write goes to a temp file in the same folder (same filesystem, so rename is atomic), is
 * fsynced, then renamed over the target: a reader or a crash sees the old file or the new one, never half.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';

let tempCounter = 0;

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync, rename, fsync the folder.
 * Creates the folder when missing.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  writeAtomicWith(path, (fd) => writeAll(fd, bytes));
}

/**
 * Like writeFileAtomic, but `write` fills the open temp file itself (e.g. in chunks, for files larger
 * than one buffer can hold); the temp file is removed if it throws.
 */
export function writeAtomicWith(path: string, write: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${tempCounter++}`);
  try {
    const fd = openSync(temp, 'w');
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

/** Writes all of `bytes` at the file's current position (writeSync may write less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.byteLength) {
    written += writeSync(fd, bytes, written, bytes.byteLength - written);
  }
}

/** Writes `value` as pretty-printed JSON (2 spaces) plus a trailing newline, atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Reads and parses a JSON file. `what` names the file's role in errors, e.g. 'checkpoint config'.
 * @throws UserError naming the file when it is missing, unreadable or not valid JSON.
 */
export function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} ${path} does not exist`);
    throw new UserError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Flushes a folder's entries (new names from create/rename) to disk. Some platforms cannot open or
 * fsync a folder; there the rename is as durable as the OS makes it, which is the best available.
 */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort, see above
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
