/**
 * A lock per run folder (docs/design.md "Pipeline and run folder", The lock): every verb that writes into
 * a run folder first takes `<run>/.lock`, a small JSON file holding its pid, host and verb. It is created
 * atomically (written to a temp file, then hard-linked to its name, which fails when the name exists), so
 * two writers never both hold it. A lock whose process is gone (a kill -9, a crash, a power cut) is taken
 * over, and the caller is told whose it was; a lock held by a live process, or by another host, is
 * refused with one line naming the holder.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';

/** What a lock file holds. */
export interface LockHolder {
  pid: number;
  host: string;
  verb: string;
  /** ISO time the lock was taken. */
  since: string;
}

/** A held lock: whose stale lock it replaced, if any, and how to let it go. */
export interface RunLock {
  path: string;
  tookOver?: LockHolder;
  release(): void;
}

const LOCK = '.lock';

/** The lock file of a folder. */
export function lockPath(folder: string): string {
  return join(folder, LOCK);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's holder, or undefined when the file is gone or unreadable (a lock being taken over). */
function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Take the lock of `folder` (created when missing, and removed again on release if it is then empty).
 * @throws UserError naming the holder when a live process (or one on another host) holds it.
 */
export function lockRun(folder: string, verb: string): RunLock {
  // The first folder made (the run folder or a missing parent of it), to remove again if left empty.
  const created = mkdirSync(folder, { recursive: true });
  const path = lockPath(folder);
  const me: LockHolder = { pid: process.pid, host: hostname(), verb, since: new Date().toISOString() };
  const temp = `${path}.${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(me)}\n`);
  let tookOver: LockHolder | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
      }
      const holder = readHolder(path);
      if (holder === undefined) continue; // released or taken over meanwhile: try again
      if (holder.host !== me.host) {
        throw new UserError(`${folder} is locked by pid ${holder.pid} (${holder.verb}) on host ${holder.host}; if that run is over, remove ${path}`);
      }
      if (alive(holder.pid)) {
        throw new UserError(`${folder} is in use by pid ${holder.pid} (${holder.verb}, since ${holder.since}); wait for it to finish or stop it first`);
      }
      // The holder is gone: move its lock aside (one taker wins the rename) and try again.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
        rmSync(aside, { force: true });
        tookOver = holder;
      } catch {
        // another process took it over first; the next attempt sees its lock
      }
    }
  } finally {
    rmSync(temp, { force: true });
  }
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    if (readHolder(path)?.pid === process.pid) rmSync(path, { force: true });
    if (created === undefined) return;
    // Up from the run folder to the first folder the lock made, while each is empty.
    for (let dir = resolve(folder); ; dir = dirname(dir)) {
      try {
        rmdirSync(dir);
      } catch {
        return; // not empty: the verb wrote into it
      }
      if (dir === resolve(created)) return;
    }
  };
  return { path, ...(tookOver === undefined ? {} : { tookOver }), release };
}
