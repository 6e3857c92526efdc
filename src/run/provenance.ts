/**
 * Provenance of a stage's output (docs/design.md "Pipeline and run folder", Stale results): what it was
 * built from, as the content hash of each input folder (`STAGES[s].content`, src/run/layout.ts) and the
 * run config it ran with. A checkpoint stage keeps it in its config.json (`provenance`), saved with every
 * checkpoint; any other stage in `<out>/provenance.json`, written before its marker file. An output is
 * stale when an input's content has changed since: `headsteer run` then redoes it, and the other verbs
 * refuse to build on it. An output without a record (written before provenance was recorded) is trusted.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { readJson, writeJsonAtomic } from '../io/atomic.js';
import { isCheckpoint } from '../io/checkpoint.js';
import { type Stage, STAGE_ORDER, STAGES, stageDir } from './layout.js';

/** One input of a stage: where it was (relative to the output folder) and its content hash then. */
export interface InputRecord {
  path: string;
  sha256: string;
}

/** What an output was built from: its inputs by stage, and the resolved run config it ran with. */
export interface Provenance {
  inputs: Partial<Record<Stage, InputRecord>>;
  config?: Record<string, unknown>;
}

const FILE = 'provenance.json';
const memo = new Map<string, string>();

/** sha256 of a file's bytes, read in 1 MiB chunks; memoised per (path, size, mtime) for this process. */
function fileHash(path: string): string {
  const st = statSync(path);
  const key = `${resolve(path)}:${st.size}:${st.mtimeMs}:${st.ino}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const hex = hash.digest('hex');
  memo.set(key, hex);
  return hex;
}

/** The content hash of a stage's output in `dir`: its `content` files (those present), name and bytes. */
export function fingerprint(dir: string, stage: Stage): string {
  const hash = createHash('sha256');
  for (const name of STAGES[stage].content) {
    const path = join(dir, name);
    if (existsSync(path)) hash.update(`${name}\0${fileHash(path)}\0`);
  }
  return hash.digest('hex');
}

/**
 * The provenance of an output in `out` built from `inputs` (stage -> its folder) with `config`.
 * @throws UserError when an input is itself stale (built from something that has changed since): building
 *   on it would mix two versions of an earlier stage.
 */
export function provenanceOf(out: string, inputs: Partial<Record<Stage, string>>, config?: unknown): Provenance {
  const records: Partial<Record<Stage, InputRecord>> = {};
  for (const [stage, dir] of Object.entries(inputs) as Array<[Stage, string]>) {
    const why = staleReason(dir);
    if (why !== undefined) throw new UserError(`${dir} is stale: ${why}; redo it with \`${STAGES[stage].verb} --force\` (or \`headsteer run\`) first`);
    records[stage] = { path: relative(out, dir) || '.', sha256: fingerprint(dir, stage) };
  }
  return { inputs: records, ...(config === undefined ? {} : { config: config as Record<string, unknown> }) };
}

/** Write the provenance of a stage that is not a checkpoint (a checkpoint keeps it in its config.json). */
export function writeProvenance(out: string, p: Provenance): void {
  writeJsonAtomic(join(out, FILE), p);
}

/** The provenance recorded with the output in `dir`, if any. */
export function recordedProvenance(dir: string): Provenance | undefined {
  const raw = isCheckpoint(dir)
    ? (readJson(join(dir, 'config.json'), 'checkpoint config') as Record<string, unknown>)['provenance']
    : existsSync(join(dir, FILE))
      ? readJson(join(dir, FILE), 'provenance')
      : undefined;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || typeof (raw as Provenance).inputs !== 'object') {
    throw new UserError(`${join(dir, isCheckpoint(dir) ? 'config.json' : FILE)}: provenance must be an object with "inputs"`);
  }
  return raw as Provenance;
}

/**
 * Why the output in `dir` is stale (one phrase naming the input that changed), or undefined when every
 * recorded input still has the content it was built from (or nothing is recorded).
 */
export function staleReason(dir: string): string | undefined {
  const p = recordedProvenance(dir);
  if (p === undefined) return undefined;
  for (const [stage, rec] of Object.entries(p.inputs) as Array<[Stage, InputRecord]>) {
    const input = join(dir, rec.path);
    if (!existsSync(input)) return `it was built from ${input}, which is gone`;
    if (fingerprint(input, stage) !== rec.sha256) return `it was built from ${input}, which has changed since`;
  }
  return undefined;
}

/** A UserError when the output in `dir` is stale, naming the verb that redoes it. */
export function requireFresh(dir: string, verb: string): void {
  const why = staleReason(dir);
  if (why !== undefined) throw new UserError(`${dir} is stale: ${why}; redo it with \`${verb} --force\` or \`headsteer run\``);
}

/** The run config the output in `dir` was built with: its provenance's, else a ViT checkpoint's `run`. */
export function recordedConfig(dir: string): Record<string, unknown> | undefined {
  const p = recordedProvenance(dir);
  if (p?.config !== undefined) return p.config;
  if (!isCheckpoint(dir)) return undefined;
  const run = (readJson(join(dir, 'config.json'), 'checkpoint config') as Record<string, unknown>)['run'];
  return typeof run === 'object' && run !== null ? (run as Record<string, unknown>) : undefined;
}

/**
 * Refuses a run folder in which a finished stage is stale, for the verbs that read them all (report,
 * explore): their page would set results of two versions of an earlier stage side by side.
 */
export function requireFreshRun(run: string): void {
  for (const stage of STAGE_ORDER) {
    const dir = stageDir(run, stage);
    if (STAGES[stage].done(dir)) requireFresh(dir, STAGES[stage].verb);
  }
}
