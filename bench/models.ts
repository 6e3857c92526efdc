/**
 * The benchmark configurations of issue #3 and a self-contained gated training step for each:
 * `reference` (6 layers, 6 heads, width 192, MLP 768, 32x32x3, 4x4 patches -> 65 tokens, batch 64,
 * 100 classes) and `default` (the default preset's model on 28x28x1, batch 128, 10 classes); and
 * `paper` (`npm run bench -- --paper`): the paper's gated ViT-S/16 at 224x224x3 (197 tokens, width 384,
 * 12 layers), batch 32 as two accumulated passes of 16 (a pass of 32 does not fit the 4 GiB wasm heap).
 */
import * as tf from '@tensorflow/tfjs';
import type { ViTConfig } from '../src/model/config.js';
import { logisticNoise } from '../src/model/gate.js';
import { ViT } from '../src/model/vit.js';
import { ADAMW_DEFAULTS, adamwStep, createAdamWState } from '../src/train/adamw.js';
import { SparseAutoencoder } from '../src/sae/sae.js';
import { saeTrainStep } from '../src/sae/train.js';
import { rng } from '../src/random.js';

export interface BenchModel {
  config: ViTConfig;
  batch: number;
  inferBatch: number;
  /** Images per training pass; the batch's gradients are accumulated over batch / microBatch passes. */
  microBatch?: number;
}

const all = (depth: number): number[] => Array.from({ length: depth }, (_, i) => i);

export const benchModels: Record<'reference' | 'default' | 'paper', BenchModel> = {
  reference: {
    config: { imgSize: 32, patchSize: 4, inChans: 3, numClasses: 100, embedDim: 192, depth: 6, numHeads: 6, mlpRatio: 4, qkvBias: true, gatedLayers: all(6) },
    batch: 64,
    inferBatch: 64,
  },
  default: {
    config: { imgSize: 28, patchSize: 7, inChans: 1, numClasses: 10, embedDim: 96, depth: 6, numHeads: 6, mlpRatio: 4, qkvBias: true, gatedLayers: all(6) },
    batch: 128,
    inferBatch: 500,
  },
  paper: {
    config: {
      imgSize: 224,
      patchSize: 16,
      inChans: 3,
      numClasses: 100,
      embedDim: 384,
      depth: 12,
      numHeads: 6,
      mlpRatio: 4,
      qkvBias: true,
      gatedLayers: all(12),
    },
    batch: 32,
    inferBatch: 32,
    microBatch: 16,
  },
};

/** A closure running one full gated training step (forward, backward over each micro-batch, AdamW) on random data. */
export function trainStep(m: BenchModel): () => void {
  const c = m.config;
  const model = new ViT(c, 0, 0.5);
  const params = model.parameters();
  const opt = createAdamWState(params);
  const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
  const micro = m.microBatch ?? m.batch;
  const r = rng(0, 'bench');
  const pixels = c.inChans * c.imgSize * c.imgSize;
  const images = r.fill(new Float32Array(m.batch * pixels), 'normal');
  const labels = Int32Array.from({ length: m.batch }, (_, i) => i % c.numClasses);
  let step = 0;
  // One pass over images [offset, offset + micro): gradients named by parameter, kept out of the tidy.
  const pass = (offset: number): Record<string, tf.Tensor> =>
    tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(offset * pixels, (offset + micro) * pixels), [micro, c.inChans, c.imgSize, c.imgSize]);
      const y = tf.oneHot(tf.tensor1d(labels.subarray(offset, offset + micro), 'int32'), c.numClasses);
      const gateNoise = model.blocks.map((_, l) => tf.tensor2d(logisticNoise(micro * c.numHeads, rng(0, 'noise', step, l, offset)), [micro, c.numHeads]));
      const { value, grads } = tf.variableGrads(
        () => {
          const out = model.forward(x, { training: true, gateNoise, tau: 5 });
          const usage = tf.mean(tf.stack(out.masks.filter((mk): mk is tf.Tensor2D => mk !== null)));
          return tf.add(tf.losses.softmaxCrossEntropy(y, out.logits), tf.mul(2, tf.abs(tf.sub(usage, 0.7)))) as tf.Scalar;
        },
        params.map((p) => p.variable),
      );
      value.dataSync();
      const named: Record<string, tf.Tensor> = {};
      for (const [k, g] of Object.entries(grads)) named[byVar.get(k)!] = g;
      return named;
    });
  return () => {
    step += 1;
    let grads = pass(0);
    for (let offset = micro; offset < m.batch; offset += micro) {
      const part = pass(offset);
      const sum = tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(g, part[k]!)])));
      tf.dispose([...Object.values(grads), ...Object.values(part)]);
      grads = sum;
    }
    tf.tidy(() => {
      adamwStep(params, grads, opt, () => 1e-3, ADAMW_DEFAULTS);
    });
    tf.dispose(Object.values(grads));
  };
}

/** A closure running one eval-mode gated forward. */
export function inferStep(m: BenchModel): () => void {
  const c = m.config;
  const model = new ViT(c, 0, 0.5);
  const r = rng(0, 'bench-infer');
  const x = tf.tensor4d(r.fill(new Float32Array(m.inferBatch * c.inChans * c.imgSize * c.imgSize), 'normal'), [m.inferBatch, c.inChans, c.imgSize, c.imgSize]);
  return () => {
    tf.tidy(() => {
      model.forward(x).logits.dataSync();
    });
  };
}

/** The SAE benchmark of issue #3: 384 -> 3072 -> 384, k 64, batch 4096 (AuxK off: no dead latents yet). */
export const SAE_BENCH = { d: 384, f: 3072, k: 64, batch: 4096 } as const;

/** A closure running one SAE training step (forward, backward, Adam, decoder renorm) on random data. */
export function saeStep(): () => void {
  const { d, f, k, batch } = SAE_BENCH;
  const sae = new SparseAutoencoder({ dIn: d, dSae: f, k }, { seed: 0 });
  const params = sae.parameters();
  const opt = createAdamWState(params);
  const x = tf.tensor2d(rng(0, 'bench-sae').fill(new Float32Array(batch * d), 'normal'), [batch, d]);
  return () => {
    saeTrainStep(sae, params, opt, x, { lr: 1e-4, dead: null, kAux: d / 2, auxkAlpha: 1 / 32 });
  };
}

/** What `tf.profile` resolves to. */
export type Profile = Awaited<ReturnType<typeof tf.profile>>;

/**
 * Aggregate a `tf.profile` result per kernel name, slowest first.
 * @param prof the profile of one step.
 * @param top how many kernels to list.
 * @returns `totalMs`, the kernel time summed over every kernel (not just the listed ones), and
 *   `lines`, one printable line per listed kernel (name, ms, calls), without trailing newlines.
 */
export function kernelTable(prof: Profile, top: number): { totalMs: number; lines: string[] } {
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls += 1;
    byKernel.set(k.name, e);
  }
  const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
  const totalMs = rows.reduce((s, [, e]) => s + e.ms, 0);
  const lines = rows.slice(0, top).map(([name, e]) => `${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(6)} calls`);
  return { totalMs, lines };
}
