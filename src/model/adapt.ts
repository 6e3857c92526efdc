/**
 * A dense ViT made ready to fine-tune on a dataset (docs/design.md "Fine-tuning a pretrained ViT"): the
 * pretrained weights carried over, with a new classifier head when the class count differs, the
 * position embedding resampled when the input side changes, and the patch embedding adapted when the
 * channel count does (src/model/resample.ts). The architecture otherwise stays the checkpoint's.
 * Legend: D width, C channels, P patch, g grid side, K classes.
 */
import { UserError } from '../errors.js';
import type { TensorData } from '../io/safetensors.js';
import { parseViTConfig, vitDims, type ViTConfig } from './config.js';
import { f32, take } from './layers.js';
import { adaptInputChannels, type PosEmbedInterp, resamplePosEmbed } from './resample.js';
import { ViT } from './vit.js';

/** What the data asks of the model's input and output. */
export interface AdaptTarget {
  imgSize: number;
  inChans: number;
  numClasses: number;
}

/**
 * The dense config `source` becomes for `target`, or a UserError naming `where` when it cannot: the
 * patch size must divide the new side, and the channels must be convertible. Writes nothing, so a
 * caller can check before it imports or trains.
 */
export function adaptedConfig(source: ViTConfig, target: AdaptTarget, where: string): ViTConfig {
  const p = source.patchSize;
  if (target.imgSize % p !== 0) {
    throw new UserError(
      `${where}: patch size ${p} does not divide the image side ${target.imgSize} (model.imgSize, else the dataset's side); set model.imgSize to a multiple of ${p}, e.g. --set model.imgSize=${Math.max(1, Math.round(target.imgSize / p)) * p}`,
    );
  }
  if (target.inChans !== source.inChans && target.inChans !== 1 && source.inChans !== 3) {
    throw new UserError(
      `${where}: a ${source.inChans}-channel patch embedding cannot take ${target.inChans}-channel images (timm converts from 3 channels, or to 1)`,
    );
  }
  return parseViTConfig({ ...source, ...target, gatedLayers: [] }, where);
}

/**
 * `source`'s weights in a new dense ViT fitted to `target`; `changes` says in one line each what was
 * replaced or resampled. `where` names the checkpoint in errors; a fresh head comes from `seed`.
 */
export function adaptViT(source: ViT, target: AdaptTarget, seed: number, interp: PosEmbedInterp, where: string): { model: ViT; changes: string[] } {
  const s = source.config;
  const config = adaptedConfig(s, target, where);
  const model = new ViT(config, seed);
  const D = s.embedDim;
  const changes: string[] = [];
  const state = source.stateDict();
  if (target.numClasses !== s.numClasses) {
    state.delete('head.weight');
    state.delete('head.bias');
    changes.push(`new classifier head: ${s.numClasses} -> ${target.numClasses} classes (the pretrained head is dropped)`);
  }
  const g = vitDims(s).grid;
  const m = vitDims(config).grid;
  if (m !== g) {
    state.set('pos_embed', f32([1, 1 + m * m, D], resamplePosEmbed(take(state, 'pos_embed'), D, g, m, interp)));
    changes.push(`input ${s.imgSize}px -> ${config.imgSize}px: position embedding resampled ${g}x${g} -> ${m}x${m} (${interp}, CLS kept)`);
  }
  if (target.inChans !== s.inChans) {
    const w = adaptInputChannels(take(state, 'patch_embed.proj.weight'), D, s.inChans, target.inChans, s.patchSize);
    state.set('patch_embed.proj.weight', f32([D, target.inChans, s.patchSize, s.patchSize], w!)); // adaptedConfig checked it converts
    changes.push(
      `patch embedding ${s.inChans} -> ${target.inChans} channels (${target.inChans === 1 ? 'summed over the input channels' : 'tiled over the input channels'}, as timm's adapt_input_conv)`,
    );
  }
  const fresh = model.stateDict();
  const merged = new Map<string, TensorData>([...fresh].map(([k, v]) => [k, state.get(k) ?? v]));
  model.importState('', merged);
  return { model, changes };
}
