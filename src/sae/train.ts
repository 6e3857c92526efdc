/**
 * Training loop of the top-k SAE (docs/design.md "Sparse autoencoder"; recipe of Gao et al. 2024 and
 * EleutherAI sparsify): Adam (no weight decay) at a constant lr by default (the schedule's optional
 * warmup and cosine decay cost reconstruction at this short budget: config.ts), decoder rows kept at
 * unit norm (parallel gradient removed before each step, rows renormalised after), b_dec initialised
 * to the geometric median, optional AuxK loss on dead latents.
 * Deterministic and resumable: the shuffle of epoch e is `rng(seed, 'sae-shuffle', e)`, and a checkpoint
 * (weights, Adam moments, step, dead-latent counters, metrics so far) is written after every epoch.
 * Legend: B batch, D input width, F latents, N samples.
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { kSparseAvailable, kSparseSimdAvailable } from '../engine/sparse.js';
import { hasTrainingState } from '../io/checkpoint.js';
import type { Param } from '../model/layers.js';
import { permutation, rng } from '../random.js';
import { ADAMW_DEFAULTS, adamwStep, createAdamWState, disposeAdamWState, exportAdamWState, importAdamWState, type AdamWState } from '../train/adamw.js';
import { lrAt } from '../train/schedule.js';
import { loadSae, saveSae } from './checkpoint.js';
import { resolveSaeConfig, saeDims, type SaeConfig, type SaeDims } from './config.js';
import { auxkLoss, deadLatentMask, reconstructionMse, stopGradient, updateSinceFired } from './loss.js';
import { dataVariance } from './metrics.js';
import { geometricMedian, removeParallelGrad, SparseAutoencoder } from './sae.js';
import { sparseSaeGrads, type SaeGrads, type SparseAuxK } from './sparse_grads.js';
import { topkReluKernelAvailable } from './topk_kernel.js';

/**
 * Per-epoch training metrics, measured on the epoch's batches with the weights before each step. The
 * checkpoint keeps the whole series (state.json `metrics`, one record per epoch: the FVU-by-epoch
 * curve) and the last record in config.json `metrics`.
 */
export interface SaeEpochMetrics {
  /** 1-based. */
  epoch: number;
  /** Steps done after this epoch. */
  step: number;
  mse: number;
  /** mse / the data's total variance. */
  fvu: number;
  /** Mean active latents per sample. */
  l0: number;
  /** Latents that never fired during the epoch, as a fraction of F. */
  deadFraction: number;
  /** Latents counted dead for AuxK at the end of the epoch (not fired for `deadSamples`). */
  auxDead: number;
  /** Mean unweighted AuxK MSE over the steps where it ran (0 if none). */
  auxLoss: number;
  lr: number;
  samplesPerSec: number;
}

/** Progress of one step, for progress bars. */
export interface SaeStepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  mse: number;
  lr: number;
}

export interface SaeTrainHooks {
  /** Checkpoint folder, rewritten after every epoch and at the end. */
  dir?: string;
  /** Continue from the training state in `dir` (UserError if there is none). */
  resume?: boolean;
  /** Extra config.json fields for the checkpoints. */
  extraConfig?: Record<string, unknown>;
  onStart?: (totalSteps: number, dims: SaeDims) => void;
  onStep?: (p: SaeStepProgress) => void;
  onEpoch?: (m: SaeEpochMetrics) => void;
}

export interface SaeTrainResult {
  sae: SparseAutoencoder;
  metrics: SaeEpochMetrics[];
  cfg: SaeConfig;
  dims: SaeDims;
}

/**
 * How a step computes its gradients: 'sparse' on the k-sparse code (sparse_grads.ts, wasm backend
 * with the fused top-k kernel), 'dense' through tfjs autograd on a dense z (any backend), 'auto' the
 * sparse path where its kernels run as SIMD code (D a multiple of 4; their JS loops are slower than the
 * dense path).
 */
export type SaeGradPath = 'auto' | 'sparse' | 'dense';

/** What one training step needs besides the SAE and its optimizer. */
export interface SaeStepOptions {
  lr: number;
  /** Dead-latent mask (F) and count for AuxK; null or count 0 skips the AuxK term. */
  dead: { mask: Float32Array; count: number } | null;
  kAux: number;
  auxkAlpha: number;
  /** @default 'auto' */
  grads?: SaeGradPath;
}

/** Scalars and per-latent fire counts (F) of one step, from the forward before the update. */
export interface SaeStepStats {
  mse: number;
  aux: number;
  fireCounts: Float32Array;
}

/** Whether `path` resolves to the sparse gradients for `sae` on the active backend. */
function useSparse(sae: SparseAutoencoder, path: SaeGradPath): boolean {
  if (path === 'dense') return false;
  const available = sae.topkImpl !== 'tfjs' && kSparseAvailable() && topkReluKernelAvailable();
  if (path === 'sparse' && !available)
    throw new Error(`SAE step: the sparse gradients need the wasm backend and the top-k kernel (backend ${tf.getBackend()})`);
  return path === 'sparse' || (available && kSparseSimdAvailable(sae.dIn));
}

/** Dense-path loss, gradients and fire counts: tfjs autograd through sae.forward and loss.ts. Run inside tf.tidy. */
function denseSaeGrads(sae: SparseAutoencoder, params: readonly Param[], x: tf.Tensor2D, auxk: SparseAuxK | null): SaeGrads {
  let kept: tf.Tensor[] = [];
  try {
    const { grads } = tf.variableGrads(
      () => {
        const { pre, z, xHat } = sae.forward(x);
        const mse = reconstructionMse(xHat, x);
        const fired = tf.sum(tf.step(z), 0); // (F)
        let loss: tf.Scalar = mse;
        let aux: tf.Scalar = tf.scalar(0);
        if (auxk !== null) {
          const e = stopGradient(tf.sub<tf.Tensor2D>(x, xHat)); // (B,D), the target only
          aux = auxkLoss(pre, e, sae.wDec, auxk.deadMask, auxk.kAux, sae.topkImpl);
          loss = tf.add(mse, tf.mul(aux, auxk.weight));
        }
        kept = [tf.keep(mse), tf.keep(aux), tf.keep(fired)];
        return loss;
      },
      params.map((p) => p.variable),
    );
    const named: Record<string, tf.Tensor> = {};
    for (const p of params) {
      const g = grads[p.variable.name];
      if (g === undefined) throw new Error(`SAE step: no gradient for ${p.name}`);
      named[p.name] = g;
    }
    const [mse, aux, fired] = kept.map((t) => tf.clone(t)); // into the caller's tidy
    return { grads: named, mse: mse as tf.Scalar, aux: aux as tf.Scalar, fired: fired as tf.Tensor1D };
  } finally {
    for (const t of kept) t.dispose();
  }
}

/**
 * Loss terms, gradients by parameter name and fire counts of `sae` on x (B,D), by the path `o.grads`
 * selects. Run inside tf.tidy.
 */
export function saeGrads(sae: SparseAutoencoder, params: readonly Param[], x: tf.Tensor2D, o: SaeStepOptions): SaeGrads {
  const dead = o.dead !== null && o.dead.count > 0 && o.auxkAlpha > 0 ? o.dead : null;
  // At most `count` entries of the masked pre-activations can be kept, so a narrower top-k selects the
  // same latents (a code of 5 columns instead of k_aux when 5 latents are dead).
  const auxk =
    dead === null ? null : { deadMask: tf.tensor1d(dead.mask), kAux: Math.min(o.kAux, dead.count), weight: o.auxkAlpha * Math.min(dead.count / o.kAux, 1) };
  return useSparse(sae, o.grads ?? 'auto') ? sparseSaeGrads(sae, x, auxk) : denseSaeGrads(sae, params, x, auxk);
}

/**
 * One step on x (B,D): forward, loss (MSE + AuxK), backward, decoder-gradient projection, Adam,
 * decoder renormalisation. Leaves no tensors behind.
 */
export function saeTrainStep(sae: SparseAutoencoder, params: readonly Param[], opt: AdamWState, x: tf.Tensor2D, o: SaeStepOptions): SaeStepStats {
  return tf.tidy(() => {
    const { grads, mse, aux, fired } = saeGrads(sae, params, x, o);
    grads['W_dec'] = removeParallelGrad(grads['W_dec'] as tf.Tensor2D, sae.wDec);
    adamwStep(params, grads, opt, () => o.lr, { ...ADAMW_DEFAULTS, weightDecay: 0, clipNorm: 0 });
    sae.normalizeDecoder();
    const stats = tf.concat([tf.stack([mse, aux]), fired]).dataSync() as Float32Array; // [mse, aux, fires (F)]
    return { mse: stats[0]!, aux: stats[1]!, fireCounts: stats.slice(2) };
  });
}

interface ResumeState {
  step: number;
  sinceFired: number[];
  metrics: SaeEpochMetrics[];
}

function parseResumeState(state: Record<string, unknown>, file: string, dSae: number): ResumeState {
  const { step, sinceFired, metrics } = state;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0)
    throw new UserError(`${file}: step is ${JSON.stringify(step)}, expected a non-negative integer`);
  if (!Array.isArray(sinceFired) || sinceFired.length !== dSae || !sinceFired.every((v) => typeof v === 'number')) {
    throw new UserError(`${file}: sinceFired must be ${dSae} numbers (one per latent)`);
  }
  if (!Array.isArray(metrics)) throw new UserError(`${file}: metrics must be an array`);
  return { step, sinceFired: sinceFired as number[], metrics: metrics as SaeEpochMetrics[] };
}

/**
 * Train a top-k SAE on x (N,D), row-major, with `d` = D. `cfgIn` overrides SAE_DEFAULTS.
 * Returns the trained SAE (caller disposes) and one metrics record per epoch.
 */
export async function trainSae(x: Float32Array, d: number, cfgIn: Partial<SaeConfig> = {}, hooks: SaeTrainHooks = {}): Promise<SaeTrainResult> {
  const cfg = resolveSaeConfig(cfgIn);
  const n = x.length / d;
  if (!Number.isInteger(d) || d < 1 || !Number.isInteger(n) || n < 1)
    throw new UserError(`SAE data: ${x.length} values is not a positive multiple of d_in = ${d}`);
  const dims = saeDims(cfg, d);
  const variance = dataVariance(x, n, d);
  if (!(variance > 0)) throw new UserError(`SAE data: the ${n} samples have zero (or non-finite) variance; nothing to reconstruct`);
  const B = Math.min(cfg.batchSize, n);
  const spe = Math.floor(n / B); // the last incomplete batch is dropped: every step has the same shape
  const totalSteps = spe * cfg.epochs;
  const { dir } = hooks;

  let sae: SparseAutoencoder;
  let step = 0;
  let sinceFired = new Float64Array(dims.dSae);
  const metrics: SaeEpochMetrics[] = [];
  let opt: AdamWState;
  if (hooks.resume === true) {
    if (dir === undefined || !hasTrainingState(dir)) throw new UserError(`cannot resume SAE training: ${dir ?? '(no folder given)'} holds no training state`);
    const loaded = loadSae(dir, { withTraining: true });
    sae = loaded.sae;
    if (sae.dIn !== dims.dIn || sae.dSae !== dims.dSae || sae.k !== dims.k) {
      sae.dispose();
      throw new UserError(
        `${join(dir, 'config.json')}: checkpoint is d_in ${sae.dIn}, d_sae ${sae.dSae}, k ${sae.k}; this run wants ${dims.dIn}, ${dims.dSae}, ${dims.k}`,
      );
    }
    const rs = parseResumeState(loaded.training!.state, join(dir, 'state.json'), dims.dSae);
    opt = createAdamWState(sae.parameters());
    importAdamWState(opt, loaded.training!.optimizer, rs.step, join(dir, 'optimizer.safetensors'));
    step = rs.step;
    sinceFired = Float64Array.from(rs.sinceFired);
    metrics.push(...rs.metrics);
  } else {
    const bDec = geometricMedian(x, n, d, cfg.medianIters);
    sae = new SparseAutoencoder(dims, { seed: cfg.seed, bDec });
    opt = createAdamWState(sae.parameters());
  }
  const params = sae.parameters();

  const save = (complete: boolean): void => {
    if (dir === undefined) return;
    const last = metrics[metrics.length - 1];
    saveSae(
      dir,
      sae,
      { ...hooks.extraConfig, train: cfg, complete, dataVariance: variance, ...(last === undefined ? {} : { metrics: last }) },
      {
        optimizer: exportAdamWState(opt),
        state: { step, totalSteps, sinceFired: Array.from(sinceFired), metrics },
      },
    );
  };

  hooks.onStart?.(totalSteps, dims);
  const xb = new Float32Array(B * d);
  try {
    while (step < totalSteps) {
      const epoch = Math.floor(step / spe);
      const perm = permutation(n, rng(cfg.seed, 'sae-shuffle', epoch));
      const fires = new Float64Array(dims.dSae);
      let mseSum = 0;
      let auxSum = 0;
      let auxSteps = 0;
      let steps = 0;
      let lr = 0;
      const t0 = performance.now();
      for (let pos = step % spe; pos < spe; pos++) {
        for (let r = 0; r < B; r++) {
          const i = perm[pos * B + r]!;
          xb.set(x.subarray(i * d, (i + 1) * d), r * d);
        }
        lr = dims.lr * lrAt(step, totalSteps, 1, cfg.warmup, cfg.minLrRatio);
        const dead = cfg.auxk ? deadLatentMask(sinceFired, cfg.deadSamples) : null;
        const xt = tf.tensor2d(xb, [B, d]);
        let s: SaeStepStats;
        try {
          s = saeTrainStep(sae, params, opt, xt, { lr, dead, kAux: dims.kAux, auxkAlpha: cfg.auxkAlpha });
        } finally {
          xt.dispose();
        }
        if (!Number.isFinite(s.mse) || !Number.isFinite(s.aux)) {
          throw new UserError(
            `sae: loss became ${s.mse} at step ${step + 1} (epoch ${epoch + 1}); lower the learning rate (lr, now ${dims.lr.toExponential(2)})`,
          );
        }
        updateSinceFired(sinceFired, s.fireCounts, B);
        for (let f = 0; f < dims.dSae; f++) fires[f]! += s.fireCounts[f]!;
        mseSum += s.mse;
        if (dead !== null && dead.count > 0) {
          auxSum += s.aux;
          auxSteps += 1;
        }
        steps += 1;
        step += 1;
        hooks.onStep?.({ step, totalSteps, epoch, mse: s.mse, lr });
        await new Promise<void>((resolve) => setImmediate(resolve)); // lets progress output and signals through
      }
      const mse = mseSum / steps;
      let fired = 0;
      let never = 0;
      for (const c of fires) {
        fired += c;
        if (c === 0) never += 1;
      }
      const m: SaeEpochMetrics = {
        epoch: epoch + 1,
        step,
        mse,
        fvu: mse / variance,
        l0: fired / (steps * B),
        deadFraction: never / dims.dSae,
        auxDead: deadLatentMask(sinceFired, cfg.deadSamples).count,
        auxLoss: auxSteps > 0 ? auxSum / auxSteps : 0,
        lr,
        samplesPerSec: (steps * B) / ((performance.now() - t0) / 1000),
      };
      metrics.push(m);
      hooks.onEpoch?.(m);
      save(step === totalSteps);
    }
    if (metrics.length === 0 || step !== metrics[metrics.length - 1]!.step) save(true);
    return { sae, metrics, cfg, dims };
  } catch (err) {
    sae.dispose();
    throw err;
  } finally {
    disposeAdamWState(opt);
  }
}
