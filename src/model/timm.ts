/**
 * timm interop (docs/design.md "timm round trip"): a timm `VisionTransformer` state dict (safetensors,
 * timm parameter names) becomes a headsteer ViT, and back. The architecture comes from the file's
 * `__metadata__.config` (JSON of timm constructor kwargs, as timm's hub exports write it) or from
 * explicit values; kwargs that change the architecture in ways this ViT does not implement are rejected
 * by name instead of silently ignored. A gated model exports its decision networks as `gates.<l>.*`
 * (outside timm's names, so `load_state_dict(strict=False)` or a filter leaves a plain timm ViT) and
 * `__metadata__.headsteer` (gated layers, the run config and the dataset facts), which import restores.
 */
import { UserError } from '../errors.js';
import { readSafetensors, type TensorData } from '../io/safetensors.js';
import { checkShapes } from '../io/checkpoint.js';
import { parseViTConfig, type ViTConfig } from './config.js';
import { expectedShapes, type ViTCheckpointConfig } from './checkpoint.js';
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

/** A headsteer state-dict name (`blocks.<l>.gate.*`) under its exported name (`gates.<l>.*`), and back. */
const GATE_NAME = /^blocks\.(\d+)\.gate\./;
const EXPORTED_GATE_NAME = /^gates\.(\d+)\./;

/** What `__metadata__.headsteer` records beside timm's kwargs. */
export interface HeadsteerMetadata {
  /** Layers with a decision network (`gates.<l>.*`). */
  gatedLayers: number[];
  /** The checkpoint's stage, run config and dataset facts, when it had them. */
  stage?: string;
  run?: Record<string, unknown>;
  data?: ViTCheckpointConfig['data'];
}

/** The timm kwargs of a ViT config (inverse of `timmKwargsToConfig` on the kwargs it maps). */
export function configToTimmKwargs(c: ViTConfig): Record<string, unknown> {
  return {
    img_size: c.imgSize,
    patch_size: c.patchSize,
    in_chans: c.inChans,
    num_classes: c.numClasses,
    embed_dim: c.embedDim,
    depth: c.depth,
    num_heads: c.numHeads,
    mlp_ratio: c.mlpRatio,
    qkv_bias: c.qkvBias,
  };
}

/**
 * A checkpoint as a timm-loadable state dict: timm's names for the ViT, `gates.<l>.*` for the decision
 * networks, and metadata `config` (timm kwargs), `headsteer` (HeadsteerMetadata) and `format: pt`.
 */
export function timmExport(model: ViT, ckpt: ViTCheckpointConfig): { tensors: Map<string, TensorData>; metadata: Record<string, string> } {
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of model.stateDict()) tensors.set(name.replace(GATE_NAME, 'gates.$1.'), t);
  const meta: HeadsteerMetadata = {
    gatedLayers: model.config.gatedLayers,
    stage: ckpt.stage,
    ...(ckpt.run === undefined ? {} : { run: ckpt.run }),
    ...(ckpt.data === undefined ? {} : { data: ckpt.data }),
  };
  return { tensors, metadata: { format: 'pt', config: JSON.stringify(configToTimmKwargs(model.config)), headsteer: JSON.stringify(meta) } };
}

/** `__metadata__.headsteer` of a file, or undefined (a plain timm file). */
export function headsteerMetadata(metadata: Record<string, string>, file: string): HeadsteerMetadata | undefined {
  const raw = metadata['headsteer'];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new UserError(`${file}: __metadata__.headsteer is not valid JSON`);
  }
  const layers = (parsed as { gatedLayers?: unknown } | null)?.gatedLayers;
  if (!Array.isArray(layers) || !layers.every((l) => Number.isInteger(l) && l >= 0))
    throw new UserError(`${file}: __metadata__.headsteer.gatedLayers must be a list of layer indices`);
  return parsed as HeadsteerMetadata;
}

/**
 * Build a ViT from a timm state dict (with `gates.<l>.*` for `config.gatedLayers`), checking every
 * tensor's name and shape against the config, so a file whose tensors do not match its metadata is
 * one error naming the file and the first mismatches.
 */
export function vitFromTimm(config: ViTConfig, weights: Map<string, TensorData>, file: string): ViT {
  const model = new ViT(config, 0);
  try {
    const named = new Map([...weights].map(([name, t]) => [name.replace(EXPORTED_GATE_NAME, 'blocks.$1.gate.'), t]));
    checkShapes(expectedShapes(model), named, file);
    model.importState('', named);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Read a timm safetensors file (kwargs from its metadata, `overrides` on top) into a ViT and the
 * checkpoint config that records it: stage `import-timm`, plus the run config and dataset facts of a
 * headsteer export, so an exported checkpoint comes back as it left.
 */
export function importTimmFile(file: string, overrides: Record<string, unknown> = {}): { model: ViT; config: ViTCheckpointConfig } {
  const contents = readSafetensors(file);
  const kwargs = { ...(timmKwargsFromMetadata(contents.metadata, file) ?? {}), ...overrides };
  const hs = headsteerMetadata(contents.metadata, file);
  const config = parseViTConfig({ ...timmKwargsToConfig(kwargs, file), gatedLayers: hs?.gatedLayers ?? [] }, `${file} (__metadata__)`);
  const model = vitFromTimm(config, contents.tensors, file);
  return {
    model,
    config: {
      kind: 'vit',
      stage: 'import-timm',
      complete: true,
      model: config,
      source: file,
      ...(hs?.stage === undefined ? {} : { exportedFrom: hs.stage }),
      ...(hs?.run === undefined ? {} : { run: hs.run }),
      ...(hs?.data === undefined ? {} : { data: hs.data }),
    },
  };
}
