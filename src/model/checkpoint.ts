/**
 * ViT checkpoints: the generic folder format (io/checkpoint.ts) with a `vit` config holding the model
 * dimensions, the run config that trained it, and the dataset facts needed to feed it (class names,
 * normalisation). Loading rebuilds the model and checks every tensor's shape against it.
 */
import { join } from 'node:path';
import { checkShapes, loadCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { UserError } from '../errors.js';
import { parseViTConfig, type ViTConfig } from './config.js';
import { ViT } from './vit.js';

/** Dataset facts stored with a model so it can be evaluated and steered without the run's config. */
export interface DataInfo {
  name: string;
  classNames: string[];
  channels: number;
  side: number;
  mean: number[];
  std: number[];
}

export interface ViTCheckpointConfig {
  kind: 'vit';
  model: ViTConfig;
  /** The run configuration that produced it (absent for imported timm models). */
  run?: Record<string, unknown>;
  data?: DataInfo;
  /** 'pretrain' | 'prune' | 'import-timm'. */
  stage: string;
  /** True once training finished (the folder then has no optimizer state). */
  complete: boolean;
  [key: string]: unknown;
}

export function expectedShapes(model: ViT): Map<string, number[]> {
  return new Map([...model.stateDict()].map(([name, t]) => [name, t.shape]));
}

/** Build a ViT from a loaded checkpoint, checking every tensor. */
export function vitFromCheckpoint(dir: string, ckpt: Checkpoint): { model: ViT; config: ViTCheckpointConfig } {
  const config = ckpt.config as ViTCheckpointConfig;
  const modelConfig = parseViTConfig(config.model, `${join(dir, 'config.json')} (model)`);
  const model = new ViT(modelConfig, 0);
  try {
    checkShapes(expectedShapes(model), ckpt.weights, join(dir, 'weights.safetensors'));
    model.importState('', ckpt.weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config: { ...config, model: modelConfig } };
}

/** Load a ViT checkpoint folder (weights only). */
export function loadViT(dir: string): { model: ViT; config: ViTCheckpointConfig } {
  return vitFromCheckpoint(dir, loadCheckpoint(dir, { kind: 'vit' }));
}

/** The dataset facts a checkpoint must carry to be evaluated on its own data. */
export function requireDataInfo(dir: string, config: ViTCheckpointConfig): DataInfo {
  if (config.data === undefined) throw new UserError(`${join(dir, 'config.json')} has no 'data' section (an imported model has no dataset; use infer)`);
  return config.data;
}
