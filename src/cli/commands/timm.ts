/**
 * timm interop verbs:
 *  `headsteer import-timm <weights.safetensors> --out <dir>`: a timm ViT state dict -> headsteer checkpoint.
 *  `headsteer export-timm --checkpoint <dir> --out <weights.safetensors>`: the way back (gates included).
 *  `headsteer infer --checkpoint <dir> --input <x.safetensors> --key <name> --out <y.safetensors>`: a float32
 *   NCHW image batch -> `logits`, `final_block_input_cls` (and `masks` (B, L, H) for a gated model).
 */
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../errors.js';
import { rmSync } from 'node:fs';
import { isCheckpoint, requireReplaceable, saveCheckpoint } from '../../io/checkpoint.js';
import { readSafetensors, toFloat32, writeSafetensors, type TensorData } from '../../io/safetensors.js';
import { importTimmFile, timmExport } from '../../model/timm.js';
import { loadStageViT } from '../../run/layout.js';
import { holdLock, startEngine } from '../options.js';
import { dirname } from 'node:path';

interface ImportFlags {
  out: string;
  force?: boolean;
  imgSize?: string;
  patchSize?: string;
  inChans?: string;
  numClasses?: string;
  embedDim?: string;
  depth?: string;
  numHeads?: string;
  mlpRatio?: string;
  qkvBias?: string;
}

const KWARG_FLAGS: Array<[keyof ImportFlags, string]> = [
  ['imgSize', 'img_size'],
  ['patchSize', 'patch_size'],
  ['inChans', 'in_chans'],
  ['numClasses', 'num_classes'],
  ['embedDim', 'embed_dim'],
  ['depth', 'depth'],
  ['numHeads', 'num_heads'],
  ['mlpRatio', 'mlp_ratio'],
  ['qkvBias', 'qkv_bias'],
];

/**
 * Import a timm file into a checkpoint folder and say what it holds. With `replace`, the folder is
 * replaced whole once the file has loaded (the old model's eval.json and metrics would describe the new
 * weights).
 */
function importTimm(weightsPath: string, out: string, overrides: Record<string, unknown>, replace: boolean): void {
  const { model, config } = importTimmFile(weightsPath, overrides);
  try {
    if (replace) rmSync(out, { recursive: true, force: true });
    saveCheckpoint(out, { config, weights: model.stateDict() });
  } finally {
    model.dispose();
  }
  const c = config.model;
  const gates = c.gatedLayers.length > 0 ? `, gates on layers ${c.gatedLayers.join(',')}` : '';
  process.stdout.write(
    `imported ${weightsPath} (depth ${c.depth}, width ${c.embedDim}, ${c.numHeads} heads, ${c.imgSize}px/${c.patchSize}, ${c.numClasses} classes${gates}) -> ${out}\n`,
  );
}

export function register(program: Command): void {
  const imp = program
    .command('import-timm')
    .description('turn a timm VisionTransformer checkpoint (safetensors) into a headsteer checkpoint')
    .argument('<weights>', 'timm state dict in safetensors format')
    .requiredOption('--out <dir>', 'checkpoint folder to write')
    .option('--force', 'replace a checkpoint already in --out (with everything next to it, e.g. its eval.json)');
  for (const [flag, kwarg] of KWARG_FLAGS) {
    imp.option(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <value>`, `timm ${kwarg} (default: from the file's __metadata__.config)`);
  }
  imp.action(async (weightsPath: string, flags: ImportFlags) => {
    await startEngine();
    requireReplaceable(flags.out, 'vit');
    holdLock(dirname(flags.out), 'import-timm');
    if (isCheckpoint(flags.out) && flags.force !== true) throw new UserError(`${flags.out} already holds a checkpoint; pass --force to replace it`);
    const overrides: Record<string, unknown> = {};
    for (const [flag, kwarg] of KWARG_FLAGS) {
      const v = flags[flag];
      if (v !== undefined) overrides[kwarg] = kwarg === 'qkv_bias' ? v === 'true' : Number(v);
    }
    importTimm(weightsPath, flags.out, overrides, flags.force === true);
  });

  program
    .command('export-timm')
    .description('write a checkpoint as a timm-loadable state dict (safetensors; gates as gates.<l>.*, config in __metadata__)')
    .requiredOption('--checkpoint <dir>', 'headsteer checkpoint folder (dense or gated)')
    .requiredOption('--out <file>', 'safetensors file to write')
    .action(async (flags: { checkpoint: string; out: string }) => {
      await startEngine();
      const { model, config } = loadStageViT(flags.checkpoint);
      try {
        const { tensors, metadata } = timmExport(model, config);
        writeSafetensors(flags.out, tensors, metadata);
        process.stdout.write(
          `exported ${flags.checkpoint} (${tensors.size} tensors${model.gated ? `, gates on layers ${model.config.gatedLayers.join(',')}` : ''}) -> ${flags.out}\n`,
        );
      } finally {
        model.dispose();
      }
    });

  program
    .command('infer')
    .description('run a checkpoint on a float32 NCHW image batch from a safetensors file')
    .requiredOption('--checkpoint <dir>', 'headsteer checkpoint folder')
    .requiredOption('--input <file>', 'safetensors file holding the images')
    .option('--key <name>', 'tensor name of the (B, C, H, W) images in --input', 'input_nchw')
    .requiredOption('--out <file>', 'safetensors file to write')
    .action(async (flags: { checkpoint: string; input: string; key: string; out: string }) => {
      await startEngine();
      const { model } = loadStageViT(flags.checkpoint);
      try {
        const file = readSafetensors(flags.input);
        const t = file.tensors.get(flags.key);
        if (t === undefined) throw new UserError(`${flags.input} has no tensor '${flags.key}' (it has: ${[...file.tensors.keys()].join(', ')})`);
        const c = model.config;
        const [B, C, H, W] = t.shape;
        if (t.shape.length !== 4 || C !== c.inChans || H !== c.imgSize || W !== c.imgSize) {
          throw new UserError(`${flags.input}: '${flags.key}' has shape [${t.shape.join(',')}], expected [B,${c.inChans},${c.imgSize},${c.imgSize}] (NCHW)`);
        }
        const images = toFloat32(t, flags.key, flags.input);
        const out = tf.tidy(() => {
          const o = model.forward(tf.tensor4d(images, [B!, C, H, W]));
          const masks = tf.stack(
            o.masks.map((m) => m ?? tf.ones([B!, c.numHeads])),
            1,
          ); // (B, L, H), ungated layers keep all heads
          return { logits: o.logits, cls: o.finalBlockInputCls, masks };
        });
        const tensors = new Map<string, TensorData>([
          ['logits', { dtype: 'F32', shape: out.logits.shape, data: out.logits.dataSync() as Float32Array }],
          ['final_block_input_cls', { dtype: 'F32', shape: out.cls.shape, data: out.cls.dataSync() as Float32Array }],
        ]);
        if (model.gated) tensors.set('masks', { dtype: 'F32', shape: out.masks.shape, data: out.masks.dataSync() as Float32Array });
        writeSafetensors(flags.out, tensors);
        tf.dispose([out.logits, out.cls, out.masks]);
        process.stdout.write(`wrote ${[...tensors.keys()].join(', ')} for ${B} images -> ${flags.out}\n`);
      } finally {
        model.dispose();
      }
    });
}
