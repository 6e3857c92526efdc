/**
 * Checkpoint folders (docs/conventions.md "Checkpoints"):
 *
 *   dir/config.json            resolved config + formatVersion + kind ('vit', 'sae', ...)
 *   dir/weights.safetensors    parameters under their (timm) names
 *   dir/optimizer.safetensors  optional training state: optimizer moments ...
 *   dir/state.json             ... and step/epoch, for resuming
 *
 * Saving is atomic for the folder as a whole: everything is written into a sibling `dir.tmp-<pid>`, then
 * swapped in by renames (dir -> dir.old-<pid>, tmp -> dir, delete old). A kill at any moment leaves the
 * previous complete checkpoint or the new one; if it struck between the two renames, `dir` is missing and
 * loading recovers the complete `dir.old-*`. Files in `dir` that are not part of the checkpoint (e.g. a
 * stage's metrics.jsonl) are carried over into the new folder (hard links, so nothing is lost midway).
 */
import { copyFileSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { fsyncDir, readJson, writeJsonAtomic } from './atomic.js';
import { readSafetensors, requireFinite, writeSafetensors, type TensorData } from './safetensors.js';

/** The checkpoint layout version this headsteer writes and reads. */
export const FORMAT_VERSION = 1;

const CONFIG = 'config.json';
const WEIGHTS = 'weights.safetensors';
const OPTIMIZER = 'optimizer.safetensors';
const STATE = 'state.json';
const CHECKPOINT_FILES = new Set([CONFIG, WEIGHTS, OPTIMIZER, STATE]);
/** Leftovers of an interrupted writeFileAtomic (`.name.tmp-<pid>-<n>`), never carried over. */
const ATOMIC_TEMP = /^\..*\.tmp-\d+-\d+$/;

type Tensors = Record<string, TensorData> | Map<string, TensorData>;

/** A loaded checkpoint. `training` is present only when loaded with `withTraining: true`. */
export interface Checkpoint {
  /** config.json as written, including `formatVersion` and `kind`. */
  config: Record<string, unknown>;
  weights: Map<string, TensorData>;
  training?: { optimizer: Map<string, TensorData>; state: Record<string, unknown> };
}

/** What saveCheckpoint writes. `config.kind` must be a string; `formatVersion` is added when absent. */
export interface CheckpointToSave {
  config: Record<string, unknown>;
  weights: Tensors;
  training?: { optimizer: Tensors; state: Record<string, unknown> };
}

/** Options for loadCheckpoint. */
export interface LoadOptions {
  /** Required `config.kind`, e.g. 'vit' or 'sae'. */
  kind?: string;
  /** Also load optimizer.safetensors + state.json (UserError when absent). @default false */
  withTraining?: boolean;
  /**
   * The command that creates this checkpoint, named when the folder is missing, e.g. 'headsteer prune'.
   * The caller knows it (src/run/layout.ts for a run's folders); without it the hint stays generic.
   */
  createdBy?: string | undefined;
}

/**
 * Saves a checkpoint folder atomically (see the file header), replacing any previous checkpoint at `dir`.
 * @throws UserError when `dir` exists but is neither a checkpoint nor empty (it is never deleted).
 */
export function saveCheckpoint(dir: string, ckpt: CheckpointToSave): void {
  const kind = ckpt.config['kind'];
  const version = ckpt.config['formatVersion'] ?? FORMAT_VERSION;
  if (typeof kind !== 'string') throw new TypeError(`checkpoint config.kind must be a string, got ${JSON.stringify(kind)}`);
  if (version !== FORMAT_VERSION) throw new TypeError(`checkpoint config.formatVersion must be ${FORMAT_VERSION}, got ${JSON.stringify(version)}`);
  requireReplaceable(dir, kind);
  removeStaleSiblings(dir);

  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeSafetensors(join(tmp, WEIGHTS), ckpt.weights);
  if (ckpt.training !== undefined) {
    writeSafetensors(join(tmp, OPTIMIZER), ckpt.training.optimizer);
    writeJsonAtomic(join(tmp, STATE), ckpt.training.state);
  }
  // config.json last: its presence marks a complete folder.
  writeJsonAtomic(join(tmp, CONFIG), { formatVersion: FORMAT_VERSION, ...ckpt.config });

  if (!existsSync(dir)) {
    renameSync(tmp, dir);
    fsyncDir(dirname(dir));
    return;
  }
  carryOverForeignFiles(dir, tmp);
  fsyncDir(tmp);
  const old = `${dir}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  renameSync(dir, old);
  renameSync(tmp, dir);
  fsyncDir(dirname(dir));
  rmSync(old, { recursive: true, force: true });
}

/**
 * Checks, before any work, that a checkpoint of `kind` may be saved at `dir`: absent, an empty folder or
 * a checkpoint of the same kind (whether to replace that one is the stage's decision).
 * @throws UserError naming what `dir` holds: a file, another kind of checkpoint, or other files.
 */
export function requireReplaceable(dir: string, kind: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is a file, not a folder; choose another --out`);
  if (isCheckpoint(dir)) {
    const held = (readJson(join(dir, CONFIG), 'checkpoint config') as Record<string, unknown>)['kind'];
    if (held !== kind) throw new UserError(`${dir} holds a '${String(held)}' checkpoint, not a '${kind}' one; refusing to replace it, choose another --out`);
    return;
  }
  if (readdirSync(dir).length > 0) throw new UserError(`${dir} exists and is not a checkpoint folder; refusing to replace it, choose another --out`);
}

/**
 * Loads a checkpoint folder, recovering a complete `dir.old-*` sibling if a save was killed mid-swap.
 * Does not check tensor shapes: the caller knows them, see checkShapes.
 * @throws UserError for a missing folder (with a hint at the command that creates it), a missing or
 *   invalid config.json, a formatVersion or kind mismatch, missing weights, or missing training state.
 */
export function loadCheckpoint(dir: string, opts: LoadOptions = {}): Checkpoint {
  if (!existsSync(dir)) recoverInterruptedSave(dir);
  if (!existsSync(dir)) {
    const by = opts.createdBy;
    const hint = by === undefined ? 'run the stage that writes it first' : `run \`${by}\` to create it`;
    throw new UserError(`checkpoint folder ${dir} does not exist; ${hint}`);
  }
  const config = readConfig(dir);
  if (opts.kind !== undefined && config['kind'] !== opts.kind) {
    throw new UserError(`${join(dir, CONFIG)} holds a '${String(config['kind'])}' checkpoint, expected '${opts.kind}'`);
  }
  const weightsPath = join(dir, WEIGHTS);
  if (!existsSync(weightsPath)) throw new UserError(`checkpoint ${dir} is incomplete: ${WEIGHTS} is missing`);
  const weights = readSafetensors(weightsPath).tensors;
  requireFinite(weights, weightsPath);
  if (opts.withTraining !== true) return { config, weights };

  if (!hasTrainingState(dir)) {
    throw new UserError(`checkpoint ${dir} has no training state (${OPTIMIZER} + ${STATE}), so training cannot resume from it`);
  }
  const optimizer = readSafetensors(join(dir, OPTIMIZER)).tensors;
  const state = readJson(join(dir, STATE), 'training state');
  if (!isRecord(state)) throw new UserError(`training state ${join(dir, STATE)} must be a JSON object`);
  return { config, weights, training: { optimizer, state } };
}

/** True when `dir` holds a checkpoint with training state (optimizer.safetensors + state.json). */
export function hasTrainingState(dir: string): boolean {
  return existsSync(join(dir, OPTIMIZER)) && existsSync(join(dir, STATE));
}

/**
 * Checks that `actual` holds exactly the tensors in `expected`, with those shapes.
 * @throws one UserError naming `file` and every problem: missing tensor, unexpected tensor, shape mismatch
 *   (e.g. "blocks.0.attn.qkv.weight has shape [288,96], expected [192,96]").
 */
export function checkShapes(expected: Map<string, number[]>, actual: Map<string, TensorData>, file: string): void {
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = actual.get(name);
    if (t === undefined) problems.push(`missing tensor ${name} [${shape.join(',')}]`);
    else if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      problems.push(`${name} has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
    }
  }
  for (const name of actual.keys()) {
    if (!expected.has(name)) problems.push(`unexpected tensor ${name}`);
  }
  if (problems.length === 0) return;
  const MAX = 5;
  const more = problems.length > MAX ? `; and ${problems.length - MAX} more` : '';
  throw new UserError(`${file} does not match the model: ${problems.slice(0, MAX).join('; ')}${more}`);
}

/** True when `dir` has a readable config.json (object with formatVersion and kind) and weights.safetensors. */
export function isCheckpoint(dir: string): boolean {
  if (!existsSync(join(dir, WEIGHTS))) return false;
  try {
    const config = readJson(join(dir, CONFIG), 'checkpoint config');
    return isRecord(config) && typeof config['formatVersion'] === 'number' && typeof config['kind'] === 'string';
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, CONFIG);
  if (!existsSync(path)) throw new UserError(`${dir} is not a checkpoint: ${CONFIG} is missing`);
  const config = readJson(path, 'checkpoint config');
  if (!isRecord(config)) throw new UserError(`checkpoint config ${path} must be a JSON object`);
  const version = config['formatVersion'];
  if (version !== FORMAT_VERSION) {
    throw new UserError(`${path} was written by format ${JSON.stringify(version)}, this headsteer reads ${FORMAT_VERSION}`);
  }
  if (typeof config['kind'] !== 'string') throw new UserError(`${path} has no string "kind" (e.g. "vit" or "sae")`);
  return config;
}

/** Sibling folders `<dir>.<tag>-<pid>` left by saves, newest first. */
function siblings(dir: string, tag: 'tmp' | 'old'): Array<{ path: string; pid: number }> {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(dir)}.${tag}-`;
  return readdirSync(parent)
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .map((name) => ({ path: join(parent, name), pid: Number(name.slice(prefix.length)) }))
    .sort((a, b) => statSync(b.path).mtimeMs - statSync(a.path).mtimeMs);
}

/** A save was killed between its two renames: `dir` is gone, its previous version sits in `dir.old-*`. */
function recoverInterruptedSave(dir: string): void {
  const complete = siblings(dir, 'old').find((s) => isCheckpoint(s.path));
  if (complete === undefined) return;
  renameSync(complete.path, dir);
  fsyncDir(dirname(dir));
}

/** Removes temp/old folders of earlier saves whose process is gone (they are never the only copy). */
function removeStaleSiblings(dir: string): void {
  if (!existsSync(dir)) recoverInterruptedSave(dir);
  for (const s of siblings(dir, 'tmp')) {
    if (s.pid === process.pid || !processAlive(s.pid)) rmSync(s.path, { recursive: true, force: true });
  }
  if (!isCheckpoint(dir)) return;
  for (const s of siblings(dir, 'old')) {
    if (s.pid === process.pid || !processAlive(s.pid)) rmSync(s.path, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Links (or copies) entries of `from` that are not checkpoint files into `to`. */
function carryOverForeignFiles(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (CHECKPOINT_FILES.has(entry.name) || ATOMIC_TEMP.test(entry.name)) continue;
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) cpSync(src, dst, { recursive: true });
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
    }
  }
}
