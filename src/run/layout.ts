/**
 * The run folder (docs/design.md "Pipeline and run folder"), defined once: every stage's subfolder, the
 * verb that writes it (for hints), its label on the report page, and when its output counts as done.
 * (The run config recorded with a checkpoint is read by src/config.ts `runConfigOf`.) `headsteer run`,
 * the stage verbs, the report and the explorer all read the folder through this module, so a stage's
 * folder or done-test changes in one place.
 *
 *   <run>/dense/      pretrain   ViT checkpoint (io/checkpoint.ts), eval.json, metrics.jsonl
 *                     (or import-timm / `run --from`: an imported dense ViT, no run config)
 *   <run>/finetuned/  finetune   the dense ViT fine-tuned on the run's data; when present, prune starts here
 *   <run>/pruned/     prune      the same, with decision networks
 *   <run>/features/   extract    manifest.json (written last), train/test.safetensors
 *   <run>/sae/        sae        SAE checkpoint, metrics.json (written after training)
 *   <run>/stats/      stats      stats.json
 *   <run>/latents/    latents    latents.json (written last), thumbs.png
 *   <run>/steer/      steer      results.json, results.csv
 *   <run>/report/     report     index.html, figures/
 *
 * Steering at layers other than the final one (`steer.layers`, docs/design.md "Steering at every
 * layer") adds, for each such layer l:
 *   <run>/features/   extract    {train,test}.layers.safetensors (x.<l>), listed by the manifest
 *   <run>/layers/<l>/sae/     sae --layer l     SAE checkpoint, metrics.json
 *   <run>/layers/<l>/stats/   stats --layer l   stats.json
 * and for all steered layers together `<run>/steer/layers.json` (steer --layers).
 */
import { existsSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { basename, join } from 'node:path';
import { readJson } from '../io/atomic.js';
import { hasTrainingState, isCheckpoint, loadCheckpoint } from '../io/checkpoint.js';
import { vitFromCheckpoint, type ViTCheckpointConfig } from '../model/checkpoint.js';
import { parseViTConfig, type ViTConfig } from '../model/config.js';
import type { ViT } from '../model/vit.js';

/** The stages that write into a run folder, in pipeline order. */
export const STAGE_ORDER = ['pretrain', 'finetune', 'prune', 'extract', 'sae', 'stats', 'latents', 'steer', 'report'] as const;
/** A stage of the pipeline, named as its verb. */
export type Stage = (typeof STAGE_ORDER)[number];

/** The stages that train a ViT (their names are also the run config's sections for them). */
export type TrainStage = Extract<Stage, 'pretrain' | 'finetune' | 'prune'>;

/** Where a stage writes and how its output is named and recognised. */
export interface StageLayout {
  /** Subfolder of the run folder. */
  folder: string;
  /** The command that writes the folder, named in "missing" and "not run yet" hints. */
  verb: string;
  /** What the report page calls the stage. */
  label: string;
  /** The folder is a checkpoint folder (io/checkpoint.ts). */
  checkpoint: boolean;
  /** The output in `dir` (the stage's folder) is complete, so `headsteer run` skips the stage. */
  done(dir: string): boolean;
  /**
   * The files whose bytes make the output what it is: their hash is what a later stage records as built
   * from (src/run/provenance.ts), so redoing this stage with another result makes those later ones stale.
   */
  content: readonly string[];
  /**
   * The run config keys (sections or dotted paths) the output depends on: `headsteer run --set` of one of
   * them on a run whose output was built with another value redoes the stage, or for a checkpoint refuses.
   */
  reads: readonly string[];
}

/** The run folder's stages (see the file header). */
export const STAGES: Readonly<Record<Stage, StageLayout>> = {
  pretrain: {
    folder: 'dense',
    verb: 'headsteer pretrain',
    label: 'dense pretraining',
    checkpoint: true,
    done: (dir) => stageStatus(dir).state === 'complete',
    content: ['weights.safetensors'],
    reads: ['seed', 'data', 'model', 'pretrain'],
  },
  finetune: {
    folder: 'finetuned',
    verb: 'headsteer finetune',
    label: 'fine-tuning',
    checkpoint: true,
    done: (dir) => stageStatus(dir).state === 'complete',
    content: ['weights.safetensors'],
    reads: ['seed', 'data', 'model', 'finetune'],
  },
  prune: {
    folder: 'pruned',
    verb: 'headsteer prune',
    label: 'pruning',
    checkpoint: true,
    done: (dir) => stageStatus(dir).state === 'complete',
    content: ['weights.safetensors'],
    reads: ['seed', 'prune'],
  },
  extract: {
    folder: 'features',
    verb: 'headsteer extract',
    label: 'feature extraction',
    checkpoint: false,
    done: (dir) => existsSync(join(dir, 'manifest.json')),
    // The per-layer files are left out: adding steered layers rewrites them, never the final layer's.
    content: ['train.safetensors', 'test.safetensors'],
    reads: [],
  },
  // metrics.json is written once training has finished; the checkpoint alone may be an interrupted one.
  sae: {
    folder: 'sae',
    verb: 'headsteer sae',
    label: 'SAE training',
    checkpoint: true,
    done: (dir) => existsSync(join(dir, 'metrics.json')) && isCheckpoint(dir),
    content: ['weights.safetensors'],
    reads: ['sae'],
  },
  stats: {
    folder: 'stats',
    verb: 'headsteer stats',
    label: 'latent statistics',
    checkpoint: false,
    done: (dir) => existsSync(join(dir, 'stats.json')),
    content: ['stats.json'],
    reads: ['seed', 'steer.ks'],
  },
  steer: {
    folder: 'steer',
    verb: 'headsteer steer',
    label: 'steering',
    checkpoint: false,
    done: (dir) => existsSync(join(dir, 'results.json')),
    content: ['results.json', 'layers.json'],
    reads: ['seed', 'steer'],
  },
  latents: {
    folder: 'latents',
    verb: 'headsteer latents',
    label: 'latent dashboards',
    checkpoint: false,
    done: (dir) => existsSync(join(dir, 'latents.json')),
    content: ['latents.json'],
    reads: ['seed', 'steer'],
  },
  // Never done: it is cheap and reflects whatever the stages above now hold, so it is always rebuilt.
  report: { folder: 'report', verb: 'headsteer report', label: 'report', checkpoint: false, done: () => false, content: [], reads: [] },
};

/**
 * Checks, before any work, that `out` may take a stage's output that is not a checkpoint: absent or a
 * folder that is not a checkpoint (a typo in --out must not bury a model under features or statistics).
 * @throws UserError naming what `out` is.
 */
export function requireStageOut(out: string, stage: Stage): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`${out} is a file, not a folder; choose another --out`);
  if (isCheckpoint(out)) {
    const kind = (readJson(join(out, 'config.json'), 'checkpoint config') as Record<string, unknown>)['kind'];
    throw new UserError(`${out} holds a '${String(kind)}' checkpoint; \`${STAGES[stage].verb}\` does not write there, choose another --out`);
  }
}

/** The folder a stage writes in `run`. */
export function stageDir(run: string, stage: Stage): string {
  return join(run, STAGES[stage].folder);
}

/** Whether a stage's output in `run` is complete. */
export function stageDone(run: string, stage: Stage): boolean {
  return STAGES[stage].done(stageDir(run, stage));
}

/**
 * The training stage whose checkpoint is the run's dense model, the one `prune` starts from:
 * `finetune` once `<run>/finetuned/` holds a checkpoint (finished or not), else `pretrain`.
 */
export function denseStage(run: string): Extract<TrainStage, 'pretrain' | 'finetune'> {
  return stageStatus(stageDir(run, 'finetune')).state === 'missing' ? 'pretrain' : 'finetune';
}

/** The stages that run once per steered layer. */
export type LayerStage = Extract<Stage, 'sae' | 'stats'>;

/**
 * The folder a per-layer stage writes for `layer` of a model whose final layer is `finalLayer`: the
 * final layer keeps the stage's own folder, so a final-only run is laid out as before; any other layer
 * gets `<run>/layers/<l>/<folder>/`. Not a subfolder of `<run>/sae/`: that is a checkpoint folder, which
 * every save replaces whole.
 */
export function layerStageDir(run: string, stage: LayerStage, layer: number, finalLayer: number): string {
  return layer === finalLayer ? stageDir(run, stage) : join(run, 'layers', String(layer), STAGES[stage].folder);
}

/** Whether a per-layer stage's output for `layer` is complete (the stage's own done-test on its folder). */
export function layerStageDone(run: string, stage: LayerStage, layer: number, finalLayer: number): boolean {
  return STAGES[stage].done(layerStageDir(run, stage, layer, finalLayer));
}

/** The verb (with its flag) that writes a per-layer stage's folder for `layer`. */
export function layerStageVerb(stage: LayerStage, layer: number, finalLayer: number): string {
  return layer === finalLayer ? STAGES[stage].verb : `${STAGES[stage].verb} --layer ${layer}`;
}

/** The every-layer sweep's file, written by `steer --layers`. */
export function layersResultsPath(run: string): string {
  return join(stageDir(run, 'steer'), 'layers.json');
}

/** A training stage's checkpoint folder: absent (or unusable), resumable at a step, or finished. */
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

/**
 * The verb that writes a checkpoint folder named like `dir` (a run's `dense`, `pruned` or `sae`), for
 * the hint when it is missing; undefined for any other name.
 */
export function checkpointWriter(dir: string): string | undefined {
  const name = basename(dir);
  const stage = STAGE_ORDER.find((s) => STAGES[s].checkpoint && STAGES[s].folder === name);
  return stage === undefined ? undefined : STAGES[stage].verb;
}

/**
 * Load a ViT checkpoint folder (model/checkpoint.ts `loadViT`); when it is missing and named like a
 * run's stage folder, the error names the verb that writes it.
 */
export function loadStageViT(dir: string): { model: ViT; config: ViTCheckpointConfig } {
  return vitFromCheckpoint(dir, loadCheckpoint(dir, { kind: 'vit', createdBy: checkpointWriter(dir) }));
}

/** The model dimensions recorded in a ViT checkpoint's config.json (without loading its weights). */
export function modelConfigOf(checkpoint: string): ViTConfig {
  const file = join(checkpoint, 'config.json');
  const raw = readJson(file, 'checkpoint config') as Record<string, unknown>;
  return parseViTConfig(raw['model'], `${file} (model)`);
}
