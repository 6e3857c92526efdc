/**
 * Pipeline stages `pretrain` (dense ViT), `finetune` (the dense checkpoint, imported or pretrained, fitted
 * to the run's data and fine-tuned) and `prune` (AdaViT gates on the dense ViT, fine-tuned jointly):
 * decide fresh start / resume / refuse, build the model, run the training loop, and write the checkpoint
 * and its eval.json into the run folder (`<run>/dense/`, `<run>/finetuned/`, `<run>/pruned/`).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, configDiff, loadRunData, runConfigOf } from '../config.js';
import type { Dataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { evaluateReport, evaluateReportShared, type EvalReport, type EvalResult } from '../eval/full_forward.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { TensorData } from '../io/safetensors.js';
import { vitFromCheckpoint, type DataInfo, type ViTCheckpointConfig } from '../model/checkpoint.js';
import type { ViTConfig } from '../model/config.js';
import { adaptViT, type AdaptTarget } from '../model/adapt.js';
import { ViT } from '../model/vit.js';
import { denseStage, loadStageViT, stageDir, stageStatus, STAGES, type TrainStage } from '../run/layout.js';
import { provenanceOf, staleReason, type Provenance } from '../run/provenance.js';
import { trainViT, type EpochSummary, type Replica, type StepProgress } from '../train/loop.js';
import { runInReplicas } from '../run/replicas.js';

export interface TrainHooks {
  /** `notes`: one line per change made to the starting model (fine-tuning's new head, resampled input). */
  onStart?: (info: { stage: string; dir: string; totalSteps: number; startStep: number; notes: string[] }) => void;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (s: EpochSummary) => void;
}

export interface TrainStageOptions {
  run: string;
  /** Config for a fresh start; a resumed run uses the config saved in its checkpoint. */
  cfg: Config;
  /**
   * The command's overrides (`--set`, `--epochs`, ...) as a function of a base config. A resumed run
   * applies them to its saved config: only where they change nothing but the data folder, else it refuses.
   */
  overrides?: (cfg: Config) => Config;
  resume: boolean;
  force: boolean;
  hooks?: TrainHooks;
  /** Script a replica process runs (the CLI's src/cli/replica.ts), forked when the stage has `workers` > 1. */
  replicaEntry: string;
}

export interface TrainStageResult {
  dir: string;
  eval: EvalReport;
  seconds: number;
}

/** Fresh start or resume, refusing to clobber finished or interrupted work unless told to. */
function plan(stage: TrainStage, dir: string, resume: boolean, force: boolean): 'fresh' | 'resume' {
  const status = stageStatus(dir);
  if (force) {
    rmSync(dir, { recursive: true, force: true });
    return 'fresh';
  }
  if (status.state === 'complete') throw new UserError(`${dir} already holds a finished ${stage} model; pass --force to train it again`);
  if (status.state === 'interrupted') {
    if (resume) return 'resume';
    throw new UserError(
      `${dir} holds an interrupted ${stage} run (step ${status.step} of ${status.totalSteps}); pass --resume to continue it or --force to start over`,
    );
  }
  if (resume) throw new UserError(`--resume: ${dir} has no interrupted ${stage} run to continue`);
  return 'fresh';
}

/**
 * The config a resumed run continues with: its saved one, with the command's overrides when they change
 * only where the data is read from (a resumed run cannot change what it trains without breaking its
 * identity with an uninterrupted run).
 */
function resumeConfig(dir: string, overrides: ((cfg: Config) => Config) | undefined): Config {
  const saved = runConfigOf(dir);
  if (overrides === undefined) return saved;
  const wanted = overrides(saved);
  const changed = configDiff(saved, wanted).filter((d) => d.key !== 'data.dataDir');
  if (changed.length > 0) {
    const d = changed[0]!;
    throw new UserError(
      `--resume continues ${dir} with the config it started with, where ${d.key} is ${JSON.stringify(d.from)}, not ${JSON.stringify(d.to)}; drop the setting, or pass --force to start over with it`,
    );
  }
  return wanted;
}
/**
 * The finished model's eval.json, from its final test evaluation plus, for a gated model, the random
 * policy's pass (shared among the replicas when there are any). Only the leader writes and reports.
 */
async function finish(
  dir: string,
  model: ViT,
  cfg: Config,
  ds: Dataset,
  seconds: number,
  test: EvalResult,
  replica?: Replica,
): Promise<TrainStageResult | null> {
  const { batchSize } = cfg.eval;
  const report =
    replica === undefined ? evaluateReport(model, ds, batchSize, cfg.seed, test) : await evaluateReportShared(model, ds, batchSize, cfg.seed, test, replica);
  if (replica !== undefined && replica.index !== 0) return null;
  writeJsonAtomic(join(dir, 'eval.json'), report);
  return { dir, eval: report, seconds };
}

/**
 * Everything a training run needs, as plain data: what the CLI process decided (fresh start or resume,
 * the resolved config) and what a replica process (replicas.ts) receives to build the same model.
 */
export interface TrainSpec {
  stage: TrainStage;
  run: string;
  /** Resolved config: the user's for a fresh start, the checkpoint's when resuming. */
  cfg: Config;
  resume: boolean;
  /** What the model is built from (src/run/provenance.ts), recorded in every checkpoint it saves. */
  provenance: Provenance;
}

/** `pretrain`: train a dense ViT from scratch into `<run>/dense/`. */
export function pretrainStage(o: TrainStageOptions): Promise<TrainStageResult> {
  const dir = stageDir(o.run, 'pretrain');
  const resume = plan('pretrain', dir, o.resume, o.force) === 'resume';
  const cfg = resume ? resumeConfig(dir, o.overrides) : o.cfg;
  return dispatch({ stage: 'pretrain', run: o.run, cfg, resume, provenance: { inputs: {} } }, o.hooks, o.replicaEntry);
}

/** `finetune`: fit `<run>/dense/` (imported or pretrained) to the run's data and fine-tune it into `<run>/finetuned/`. */
export function finetuneStage(o: TrainStageOptions): Promise<TrainStageResult> {
  const dir = stageDir(o.run, 'finetune');
  const resume = plan('finetune', dir, o.resume, o.force) === 'resume';
  const denseDir = stageDir(o.run, 'pretrain');
  if (resume) {
    const why = staleReason(dir);
    if (why !== undefined) throw new UserError(`--resume: the interrupted ${dir} is stale (${why}); pass --force to start over from it`);
    const cfg = resumeConfig(dir, o.overrides);
    return dispatch({ stage: 'finetune', run: o.run, cfg, resume, provenance: provenanceOf(dir, { pretrain: denseDir }) }, o.hooks, o.replicaEntry);
  }
  requireComplete(denseDir, 'pretrain', `${STAGES.pretrain.verb} (or headsteer import-timm <weights> --out ${denseDir})`);
  return dispatch({ stage: 'finetune', run: o.run, cfg: o.cfg, resume, provenance: provenanceOf(dir, { pretrain: denseDir }) }, o.hooks, o.replicaEntry);
}

/** A dense stage's checkpoint folder must be finished before a later stage starts from it. */
function requireComplete(dir: string, stage: 'pretrain' | 'finetune', createdBy: string = STAGES[stage].verb): void {
  if (stageStatus(dir).state === 'complete') return;
  loadCheckpoint(dir, { kind: 'vit', createdBy }); // names a missing folder and the command that creates it
  throw new UserError(`${dir} is not finished; complete \`${STAGES[stage].verb} --resume\` first`);
}

/**
 * `prune`: add a decision network per layer to the run's dense model (`<run>/finetuned/` when the run
 * has one, else `<run>/dense/`) and fine-tune jointly into `<run>/pruned/`.
 */
export function pruneStage(o: Omit<TrainStageOptions, 'cfg'>): Promise<TrainStageResult> {
  const dir = stageDir(o.run, 'prune');
  const resume = plan('prune', dir, o.resume, o.force) === 'resume';
  const source = denseStage(o.run);
  const denseDir = stageDir(o.run, source);
  if (resume) {
    const why = staleReason(dir);
    if (why !== undefined) throw new UserError(`--resume: the interrupted ${dir} is stale (${why}); pass --force to start over from it`);
    const cfg = resumeConfig(dir, o.overrides);
    return dispatch({ stage: 'prune', run: o.run, cfg, resume, provenance: provenanceOf(dir, { [source]: denseDir }) }, o.hooks, o.replicaEntry);
  }
  requireComplete(denseDir, source);
  const denseConfig = loadCheckpoint(denseDir, { kind: 'vit' }).config;
  if (denseConfig['run'] === undefined) {
    const classes = (denseConfig['model'] as { numClasses?: number } | undefined)?.numClasses;
    throw new UserError(
      `${denseDir} holds an imported model (a ${classes}-class head) that was not fine-tuned on a dataset; run \`${STAGES.finetune.verb} --out ${o.run}\` first (it fits the head to the run's classes)`,
    );
  }
  const saved = runConfigOf(denseDir);
  const cfg = o.overrides === undefined ? saved : o.overrides(saved);
  return dispatch({ stage: 'prune', run: o.run, cfg, resume, provenance: provenanceOf(dir, { [source]: denseDir }) }, o.hooks, o.replicaEntry);
}

/** In this process, or in `workers` processes running `replicaEntry` that split every batch. */
function dispatch(spec: TrainSpec, hooks: TrainHooks | undefined, replicaEntry: string): Promise<TrainStageResult> {
  const workers = spec.cfg[spec.stage].workers;
  if (workers > 1) {
    // Killed, the replicas leave their last checkpoint, resumable.
    const interrupted = 'interrupted; rerun with --resume to continue from the last checkpoint';
    return runInReplicas<TrainSpec, TrainStageResult, keyof TrainHooks>(replicaEntry, spec, workers, hooks ?? {}, interrupted).then((r) => r[0]!); // the leader's
  }
  return executeTraining(spec, hooks).then((r) => r!); // no replica: this process is the leader
}

/** What the data asks of a fine-tuned model: the config's input side (else the data's), channels and classes. */
export function finetuneTarget(cfg: Config, ds: Dataset): AdaptTarget {
  return { imgSize: cfg.model.imgSize ?? ds.height, inChans: ds.channels, numClasses: ds.classNames.length };
}

/**
 * Build the model a spec trains: fresh, the dense checkpoint fitted to the data (finetune), the dense
 * model with new gates (prune), or resumed. `notes` says what fitting the dense checkpoint changed.
 */
function prepareModel(spec: TrainSpec, ds: Dataset): { model: ViT; training?: TrainingState; notes: string[] } {
  const { stage, cfg } = spec;
  const dir = stageDir(spec.run, stage);
  if (spec.resume) {
    const ckpt = loadCheckpoint(dir, { kind: 'vit', withTraining: true, createdBy: STAGES[stage].verb });
    return { model: vitFromCheckpoint(dir, ckpt).model, training: ckpt.training!, notes: [] };
  }
  if (stage === 'pretrain') return { model: new ViT(modelConfigFor(cfg, ds, []), cfg.seed), notes: [] };
  if (stage === 'finetune') {
    const denseDir = stageDir(spec.run, 'pretrain');
    const source = loadStageViT(denseDir).model;
    try {
      const { model, changes } = adaptViT(source, finetuneTarget(cfg, ds), cfg.seed, cfg.finetune.posEmbedInterp, denseDir);
      return { model, notes: changes };
    } finally {
      source.dispose();
    }
  }
  const dense = loadStageViT(stageDir(spec.run, denseStage(spec.run)));
  const layers = cfg.prune.gatedLayers === 'all' ? Array.from({ length: dense.model.config.depth }, (_, i) => i) : cfg.prune.gatedLayers;
  const model = new ViT({ ...dense.model.config, gatedLayers: layers }, cfg.seed, cfg.prune.gateBiasInit);
  // Dense weights everywhere, fresh gates: overlay the dense state dict on the gated model's own.
  const state = model.stateDict();
  for (const [name, t] of dense.model.stateDict()) state.set(name, t);
  model.importState('', state);
  dense.model.dispose();
  return { model, notes: [] };
}

type TrainingState = { optimizer: Map<string, TensorData>; state: Record<string, unknown> };

/** The dataset facts a checkpoint records (model/checkpoint.ts `DataInfo`). */
export function dataInfo(ds: Dataset): DataInfo {
  return { name: ds.name, classNames: ds.classNames, channels: ds.channels, side: ds.height, mean: ds.mean, std: ds.std };
}

/** ViT dimensions for a run: the preset's architecture at the dataset's channels and classes. */
export function modelConfigFor(cfg: Config, ds: Dataset, gatedLayers: number[]): ViTConfig {
  const { imgSize, ...arch } = cfg.model;
  return { ...arch, imgSize: imgSize ?? ds.height, inChans: ds.channels, numClasses: ds.classNames.length, gatedLayers };
}

/** A ViT config as the run config's `model` section. */
function modelSectionOf(c: ViTConfig): Config['model'] {
  return { imgSize: c.imgSize, patchSize: c.patchSize, embedDim: c.embedDim, depth: c.depth, numHeads: c.numHeads, mlpRatio: c.mlpRatio, qkvBias: c.qkvBias };
}

/**
 * Run a spec's training loop here. With `replica`, this process is one of several that each take a
 * share of every batch and average gradients; only the leader writes files and evaluates.
 */
export async function executeTraining(spec: TrainSpec, hooks: TrainHooks | undefined, replica?: Replica): Promise<TrainStageResult | null> {
  const { stage, cfg } = spec;
  const dir = stageDir(spec.run, stage);
  const ds = loadRunData(cfg);
  const { model, training, notes } = prepareModel(spec, ds);
  const stageCfg = cfg[stage];
  // A fine-tuned model records its own architecture as the run's model section, so the config says what ran.
  const runCfg: Config = stage === 'finetune' ? { ...cfg, model: modelSectionOf(model.config) } : cfg;
  const startStep = training === undefined ? 0 : Number(training.state['step']);
  const checkpointConfig = (complete: boolean): ViTCheckpointConfig => ({
    kind: 'vit',
    stage,
    complete,
    model: model.config,
    run: runCfg as unknown as Record<string, unknown>,
    data: dataInfo(ds),
    provenance: spec.provenance,
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
      ...(replica === undefined ? {} : { replica }),
      onStart: (totalSteps: number) => hooks?.onStart?.({ stage, dir, totalSteps, startStep, notes }),
    });
    return await finish(dir, model, runCfg, ds, result.seconds, result.test, replica);
  } finally {
    model.dispose();
  }
}
