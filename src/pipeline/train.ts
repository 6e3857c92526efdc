/**
 * Pipeline stages `pretrain` (dense ViT) and `prune` (AdaViT gates on the pretrained ViT, fine-tuned
 * jointly): decide fresh start / resume / refuse, build the model, run the training loop, and write
 * the checkpoint and its eval.json into the run folder (`<run>/dense/`, `<run>/pruned/`).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type Config } from '../config.js';
import type { Dataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { evaluateReport, type EvalReport, type EvalResult } from '../eval/evaluate.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { TensorData } from '../io/safetensors.js';
import { loadViT, vitFromCheckpoint, type ViTCheckpointConfig } from '../model/checkpoint.js';
import { ViT } from '../model/vit.js';
import { trainViT, type EpochSummary, type StepProgress } from '../train/loop.js';
import { dataInfo, loadRunData, modelConfigFor, runPath, stageStatus } from './common.js';

export interface TrainHooks {
  onStart?: (info: { stage: string; dir: string; totalSteps: number; startStep: number }) => void;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (s: EpochSummary) => void;
}

export interface TrainStageOptions {
  run: string;
  /** Config for a fresh start; a resumed run uses the config saved in its checkpoint. */
  cfg: Config;
  resume: boolean;
  force: boolean;
  hooks?: TrainHooks;
}

export interface TrainStageResult {
  dir: string;
  eval: EvalReport;
  seconds: number;
}

type Stage = 'pretrain' | 'prune';

/** Fresh start or resume, refusing to clobber finished or interrupted work unless told to. */
function plan(stage: Stage, dir: string, resume: boolean, force: boolean): 'fresh' | 'resume' {
  const status = stageStatus(dir);
  if (force) {
    rmSync(dir, { recursive: true, force: true });
    return 'fresh';
  }
  if (status.state === 'complete') throw new UserError(`${dir} already holds a finished ${stage} model; pass --force to train it again`);
  if (status.state === 'interrupted') {
    if (resume) return 'resume';
    throw new UserError(`${dir} holds an interrupted ${stage} run (step ${status.step} of ${status.totalSteps}); pass --resume to continue it or --force to start over`);
  }
  if (resume) throw new UserError(`--resume: ${dir} has no interrupted ${stage} run to continue`);
  return 'fresh';
}

function finish(dir: string, model: ViT, cfg: Config, ds: Dataset, seconds: number, test: EvalResult): TrainStageResult {
  const report = evaluateReport(model, ds, cfg.eval.batchSize, cfg.seed, test);
  writeJsonAtomic(join(dir, 'eval.json'), report);
  return { dir, eval: report, seconds };
}

/** `pretrain`: train a dense ViT from scratch into `<run>/dense/`. */
export function pretrainStage(o: TrainStageOptions): Promise<TrainStageResult> {
  const dir = runPath(o.run, 'dense');
  const mode = plan('pretrain', dir, o.resume, o.force);
  const ckpt = mode === 'resume' ? loadCheckpoint(dir, { kind: 'vit', withTraining: true }) : null;
  const cfg = ckpt === null ? o.cfg : parseConfig((ckpt.config as ViTCheckpointConfig).run, join(dir, 'config.json'));
  const ds = loadRunData(cfg);
  const model = ckpt === null ? new ViT(modelConfigFor(cfg, ds, []), cfg.seed) : vitFromCheckpoint(dir, ckpt).model;
  return runTraining('pretrain', dir, model, cfg, ds, ckpt?.training, o.hooks);
}

/** `prune`: add a decision network per layer to `<run>/dense/` and fine-tune jointly into `<run>/pruned/`. */
export function pruneStage(o: Omit<TrainStageOptions, 'cfg'> & { overrides?: (cfg: Config) => Config }): Promise<TrainStageResult> {
  const dir = runPath(o.run, 'pruned');
  const mode = plan('prune', dir, o.resume, o.force);
  if (mode === 'resume') {
    const ckpt = loadCheckpoint(dir, { kind: 'vit', withTraining: true });
    const cfg = parseConfig((ckpt.config as ViTCheckpointConfig).run, join(dir, 'config.json'));
    return runTraining('prune', dir, vitFromCheckpoint(dir, ckpt).model, cfg, loadRunData(cfg), ckpt.training, o.hooks);
  }
  const denseDir = runPath(o.run, 'dense');
  const dense = loadViT(denseDir);
  if (dense.config.complete !== true) throw new UserError(`${denseDir} is not finished; complete \`headsteer pretrain --resume\` first`);
  const saved = parseConfig(dense.config.run, join(denseDir, 'config.json'));
  const cfg = o.overrides === undefined ? saved : o.overrides(saved);
  const layers = cfg.prune.gatedLayers === 'all' ? Array.from({ length: dense.model.config.depth }, (_, i) => i) : cfg.prune.gatedLayers;
  const model = new ViT({ ...dense.model.config, gatedLayers: layers }, cfg.seed, cfg.prune.gateBiasInit);
  // Dense weights everywhere, fresh gates: overlay the dense state dict on the gated model's own.
  const state = model.stateDict();
  for (const [name, t] of dense.model.stateDict()) state.set(name, t);
  model.importState('', state);
  dense.model.dispose();
  return runTraining('prune', dir, model, cfg, loadRunData(cfg), undefined, o.hooks);
}

async function runTraining(
  stage: Stage,
  dir: string,
  model: ViT,
  cfg: Config,
  ds: Dataset,
  training: { optimizer: Map<string, TensorData>; state: Record<string, unknown> } | undefined,
  hooks: TrainHooks | undefined,
): Promise<TrainStageResult> {
  const stageCfg = stage === 'pretrain' ? cfg.pretrain : cfg.prune;
  const startStep = training === undefined ? 0 : Number(training.state['step']);
  const checkpointConfig = (complete: boolean): ViTCheckpointConfig => ({
    kind: 'vit',
    stage,
    complete,
    model: model.config,
    run: cfg as unknown as Record<string, unknown>,
    data: dataInfo(ds),
  });
  try {
    const result = await trainViT({
      model,
      dataset: ds,
      stage,
      cfg: stageCfg,
      seed: cfg.seed,
      dir,
      checkpointConfig,
      evalBatchSize: cfg.eval.batchSize,
      augment: cfg.data.augment,
      ...(training === undefined ? {} : { resume: { step: startStep, optimizer: training.optimizer } }),
      ...(hooks?.onStep === undefined ? {} : { onStep: hooks.onStep }),
      ...(hooks?.onEpoch === undefined ? {} : { onEpoch: hooks.onEpoch }),
      onStart: (totalSteps: number) => hooks?.onStart?.({ stage, dir, totalSteps, startStep }),
    });
    return finish(dir, model, cfg, ds, result.seconds, result.test);
  } finally {
    model.dispose();
  }
}
