/**
 * timm interop: a timm `VisionTransformer` state dict (safetensors, timm parameter names) becomes a
 * headsteer ViT. The architecture comes from the file's `__metadata__.config` (JSON of timm constructor
 * kwargs, as timm's hub exports write it) or from explicit values; kwargs that change the architecture
 * in ways this ViT does not implement are rejected by name instead of silently ignored.
 */
import { UserError } from '../errors.js';
import type { TensorData } from '../io/safetensors.js';
import { checkShapes } from '../io/checkpoint.js';
import { parseViTConfig, type ViTConfig } from './config.js';
import { expectedShapes } from './checkpoint.js';
import { ViT } from './vit.js';

/** timm kwargs we map, with timm's defaults. */
const TIMM_DEFAULTS = {
  img_size: 224,
  patch_size: 16,
  in_chans: 3,
  num_classes: 1000,
  embed_dim: 768,
  depth: 12,
  num_heads: 12,
  mlp_ratio: 4,
  qkv_bias: true,
} as const;

/** timm kwargs accepted only at the value this ViT implements. */
const TIMM_FIXED: Record<string, unknown> = {
  global_pool: 'token',
  class_token: true,
  no_embed_class: false,
  reg_tokens: 0,
  pre_norm: false,
  fc_norm: null,
  qk_norm: false,
  init_values: null,
  dynamic_img_size: false,
};

/** Kwargs that only matter in training (dropouts) and are ignored at inference. */
const TIMM_IGNORED = new Set([
  'drop_rate',
  'pos_drop_rate',
  'proj_drop_rate',
  'attn_drop_rate',
  'drop_path_rate',
  'weight_init',
  'pretrained_cfg',
  'pretrained_cfg_overlay',
]);

/** Map timm constructor kwargs to a ViT config; `where` names the source in errors. */
export function timmKwargsToConfig(kwargs: Record<string, unknown>, where: string): ViTConfig {
  const known = new Set([...Object.keys(TIMM_DEFAULTS), ...Object.keys(TIMM_FIXED), ...TIMM_IGNORED]);
  for (const [k, v] of Object.entries(kwargs)) {
    if (!known.has(k)) throw new UserError(`${where}: timm kwarg '${k}' is not supported (supported: ${Object.keys(TIMM_DEFAULTS).join(', ')})`);
    if (k in TIMM_FIXED && v !== TIMM_FIXED[k]) {
      throw new UserError(`${where}: timm kwarg ${k}=${JSON.stringify(v)} is not supported (only ${JSON.stringify(TIMM_FIXED[k])})`);
    }
  }
  const get = <K extends keyof typeof TIMM_DEFAULTS>(k: K): unknown => kwargs[k] ?? TIMM_DEFAULTS[k];
  const size = (v: unknown): unknown => (Array.isArray(v) && v.length === 2 && v[0] === v[1] ? v[0] : v);
  return parseViTConfig(
    {
      imgSize: size(get('img_size')),
      patchSize: size(get('patch_size')),
      inChans: get('in_chans'),
      numClasses: get('num_classes'),
      embedDim: get('embed_dim'),
      depth: get('depth'),
      numHeads: get('num_heads'),
      mlpRatio: get('mlp_ratio'),
      qkvBias: get('qkv_bias'),
      gatedLayers: [],
    },
    where,
  );
}

/** The timm kwargs stored in a safetensors file's `__metadata__.config`, or undefined. */
export function timmKwargsFromMetadata(metadata: Record<string, string>, file: string): Record<string, unknown> | undefined {
  const raw = metadata['config'];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new UserError(`${file}: __metadata__.config is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UserError(`${file}: __metadata__.config must be a JSON object of timm kwargs`);
  return parsed as Record<string, unknown>;
}

/** Build a dense ViT from a timm state dict, checking every tensor's name and shape. */
export function vitFromTimm(config: ViTConfig, weights: Map<string, TensorData>, file: string): ViT {
  const model = new ViT(config, 0);
  try {
    checkShapes(expectedShapes(model), weights, file);
    model.importState('', weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
