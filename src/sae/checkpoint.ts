/**
 * SAE checkpoint folders (io/checkpoint.ts layout): `config.json` with kind 'sae' and the fields
 * SAELens / sparsify readers look for (`architecture: 'topk'`, `d_in`, `d_sae`, `k`), and
 * `weights.safetensors` with W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in];
 * optionally the Adam moments and training state for resuming. Training (train.ts) adds its config
 * (`train`), `complete` and its last epoch's metrics to config.json; the `sae` stage adds `features` and
 * `layer`, the block whose input CLS the SAE was trained on (docs/design.md "Steering at every layer").
 */
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { checkShapes, loadCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
import type { TensorData } from '../io/safetensors.js';
import { saeTensorShapes, SparseAutoencoder, type SaeShape } from './sae.js';

export const SAE_KIND = 'sae';

/** Training state saved next to the weights (optimizer moments + a JSON record such as the step). */
export interface SaeTrainingState {
  optimizer: Map<string, TensorData>;
  state: Record<string, unknown>;
}

/** What loadSae returns; `training` only when asked for. */
export interface LoadedSae {
  sae: SparseAutoencoder;
  /** config.json as written (includes any `extra` fields given to saveSae). */
  config: Record<string, unknown>;
  training?: SaeTrainingState;
}

/**
 * config.json of a trained SAE as readers outside the loader (the report) may rely on it: the shape,
 * whether training finished, and its epochs. Loose: every other key passes.
 */
export const saeCheckpointConfigSchema = z.looseObject({
  d_in: z.number(),
  d_sae: z.number(),
  k: z.number(),
  complete: z.boolean().optional(),
  train: z.looseObject({ epochs: z.number() }),
});

/** A trained SAE's config.json as `saeCheckpointConfigSchema` reads it. */
export type SaeCheckpointConfig = z.infer<typeof saeCheckpointConfigSchema>;

/** config.json fields describing an SAE (the SAELens / sparsify subset headsteer uses). */
export function saeConfigFields(s: SaeShape): Record<string, unknown> {
  return {
    kind: SAE_KIND,
    architecture: 'topk',
    d_in: s.dIn,
    d_sae: s.dSae,
    k: s.k,
    dtype: 'float32',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
  };
}

/**
 * Save `sae` as a checkpoint folder at `dir` (atomic replace). `extra` adds config.json fields
 * (e.g. the training config and final metrics); it cannot override the fields of saeConfigFields.
 */
export function saveSae(dir: string, sae: SparseAutoencoder, extra: Record<string, unknown> = {}, training?: SaeTrainingState): void {
  const weights = new Map<string, TensorData>();
  sae.exportState('', weights);
  saveCheckpoint(dir, {
    config: { ...extra, ...saeConfigFields(sae) },
    weights,
    ...(training === undefined ? {} : { training }),
  });
}

/**
 * Load an SAE checkpoint folder.
 * @throws UserError for a folder that is not an SAE checkpoint, bad `d_in`/`d_sae`/`k`/`architecture`
 *   fields, or tensors whose names or shapes do not match them (each mismatch named).
 */
export function loadSae(dir: string, opts: { withTraining?: boolean } = {}): LoadedSae {
  const ckpt = loadCheckpoint(dir, { kind: SAE_KIND, withTraining: opts.withTraining === true, createdBy: 'headsteer sae' });
  const file = join(dir, 'config.json');
  const arch = ckpt.config['architecture'];
  if (arch !== 'topk') throw new UserError(`${file}: architecture is ${JSON.stringify(arch)}, expected "topk"`);
  const dim = (key: string): number => {
    const v = ckpt.config[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UserError(`${file}: ${key} is ${JSON.stringify(v)}, expected a positive integer`);
    return v;
  };
  const shape: SaeShape = { dIn: dim('d_in'), dSae: dim('d_sae'), k: dim('k') };
  if (shape.k > shape.dSae) throw new UserError(`${file}: k = ${shape.k} exceeds d_sae = ${shape.dSae}`);
  checkShapes(saeTensorShapes(shape), ckpt.weights, join(dir, 'weights.safetensors'));
  for (const [name, t] of ckpt.weights) {
    if (t.dtype !== 'F32') throw new UserError(`${join(dir, 'weights.safetensors')}: tensor ${name} is ${t.dtype}, expected F32`);
  }
  const sae = new SparseAutoencoder(shape, { seed: 0 });
  sae.importState('', ckpt.weights);
  return { sae, config: ckpt.config, ...(ckpt.training === undefined ? {} : { training: ckpt.training }) };
}

/**
 * The layer whose block-input CLS an SAE was trained on: config.json's `layer`. An SAE recorded before
 * layers were recorded was trained on the final layer's, `finalLayer`.
 * @throws UserError for a `layer` that is not a layer index.
 */
export function saeLayer(config: Record<string, unknown>, finalLayer: number, file: string): number {
  const l = config['layer'];
  if (l === undefined) return finalLayer;
  if (typeof l !== 'number' || !Number.isInteger(l) || l < 0) throw new UserError(`${file}: layer is ${JSON.stringify(l)}, expected a layer index`);
  return l;
}

/**
 * Load a finished SAE for the stages after `sae`, checking it reads features of width `d` and, given
 * `at`, that it was trained on layer `at.layer` (of a model whose final layer is `at.finalLayer`).
 * @throws UserError for an unfinished SAE (naming the verb that resumes it), another width or another layer.
 */
export function loadTrainedSae(dir: string, d: number, at?: { layer: number; finalLayer: number }): SparseAutoencoder {
  const { sae, config } = loadSae(dir);
  const file = join(dir, 'config.json');
  try {
    if (config['complete'] !== true) throw new UserError(`${dir} holds an unfinished SAE; rerun \`headsteer sae --resume\``);
    if (sae.dIn !== d) throw new UserError(`${file}: the SAE reads d_in = ${sae.dIn}, but the features have d = ${d}`);
    const trained = at === undefined ? undefined : saeLayer(config, at.finalLayer, file);
    if (at !== undefined && trained !== at.layer) {
      throw new UserError(
        `${file}: the SAE was trained on layer ${trained}'s block-input CLS, but it is used at layer ${at.layer}; use that layer's SAE (\`headsteer sae --layer ${at.layer}\`)`,
      );
    }
  } catch (e) {
    sae.dispose();
    throw e;
  }
  return sae;
}
