/**
 * What the pipeline stages share: the run folder layout (DESIGN.md), loading a run's dataset from its
 * config, and deciding whether a stage's output is missing, interrupted (resumable) or complete.
 */
import { join } from 'node:path';
import { parseConfig, type Config } from '../config.js';
import { UserError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { loadDataset } from '../data/registry.js';
import { readJson } from '../io/atomic.js';
import { hasTrainingState, loadCheckpoint } from '../io/checkpoint.js';
import type { DataInfo } from '../model/checkpoint.js';
import type { ViTConfig } from '../model/config.js';

/** Folders of a run directory, one per stage. */
export const RUN_DIRS = { dense: 'dense', pruned: 'pruned', features: 'features', sae: 'sae', steer: 'steer', report: 'report' } as const;

export function runPath(run: string, stage: keyof typeof RUN_DIRS): string {
  return join(run, RUN_DIRS[stage]);
}

/** Load the dataset a run config names (with an optional data-dir override). */
export function loadRunData(cfg: Config): Dataset {
  return loadDataset(cfg.data.dataset, {
    seed: cfg.seed,
    ...(cfg.data.dataDir === undefined ? {} : { dataDir: cfg.data.dataDir }),
    ...(cfg.data.procedural === undefined ? {} : { procedural: cfg.data.procedural }),
  });
}

export function dataInfo(ds: Dataset): DataInfo {
  return { name: ds.name, classNames: ds.classNames, channels: ds.channels, side: ds.height, mean: ds.mean, std: ds.std };
}

/** ViT dimensions for a run: the preset's architecture at the dataset's channels and classes. */
export function modelConfigFor(cfg: Config, ds: Dataset, gatedLayers: number[]): ViTConfig {
  const { imgSize, ...arch } = cfg.model;
  return { ...arch, imgSize: imgSize ?? ds.height, inChans: ds.channels, numClasses: ds.classNames.length, gatedLayers };
}

export type StageStatus = { state: 'missing' } | { state: 'interrupted'; step: number; totalSteps: number } | { state: 'complete' };

/** Where a training stage's checkpoint folder stands (loading also recovers a save killed mid-swap). */
export function stageStatus(dir: string): StageStatus {
  let config: Record<string, unknown>;
  try {
    config = loadCheckpoint(dir).config;
  } catch {
    return { state: 'missing' };
  }
  if (config['complete'] === true) return { state: 'complete' };
  if (!hasTrainingState(dir)) return { state: 'missing' };
  const state = readJson(join(dir, 'state.json'), 'training state') as Record<string, unknown>;
  return { state: 'interrupted', step: Number(state['step']), totalSteps: Number(state['totalSteps']) };
}

/** The run config recorded in a ViT checkpoint's config.json (without loading its weights). */
export function runConfigOf(checkpoint: string): Config {
  const file = join(checkpoint, 'config.json');
  const raw = readJson(file, 'checkpoint config') as Record<string, unknown>;
  if (raw['run'] === undefined) throw new UserError(`${file} records no run config (an imported model?); train it with headsteer pretrain/prune first`);
  return parseConfig(raw['run'], file);
}
