/**
 * ViT dimensions, named as timm's `VisionTransformer` constructor kwargs so a timm config maps 1:1.
 * Legend used across src/model: B batch, C channels, N tokens (1 + T patches), T patches, D width,
 * H heads, Dh head dim (D / H), F MLP hidden width, K classes, L depth.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';

export const vitConfigSchema = z.strictObject({
  imgSize: z.number().int().min(1),
  patchSize: z.number().int().min(1),
  inChans: z.number().int().min(1),
  numClasses: z.number().int().min(2),
  embedDim: z.number().int().min(1),
  depth: z.number().int().min(1),
  numHeads: z.number().int().min(1),
  mlpRatio: z.number().positive(),
  qkvBias: z.boolean(),
  /** Layers that carry an AdaViT decision network; empty for a dense ViT. */
  gatedLayers: z.array(z.number().int().min(0)),
});

export type ViTConfig = z.infer<typeof vitConfigSchema>;

/** Derived sizes that every module needs. */
export interface ViTDims {
  grid: number; // patches per side
  numPatches: number; // T
  numTokens: number; // N = T + 1 (CLS)
  headDim: number; // Dh
  mlpHidden: number; // F
  patchDim: number; // C * P * P
}

export function vitDims(c: ViTConfig): ViTDims {
  const grid = c.imgSize / c.patchSize;
  return {
    grid,
    numPatches: grid * grid,
    numTokens: grid * grid + 1,
    headDim: c.embedDim / c.numHeads,
    mlpHidden: Math.floor(c.embedDim * c.mlpRatio), // timm: int(dim * mlp_ratio)
    patchDim: c.inChans * c.patchSize * c.patchSize,
  };
}

/** Parse and cross-check a ViT config; `where` names its source in error messages. */
export function parseViTConfig(raw: unknown, where: string): ViTConfig {
  const r = vitConfigSchema.safeParse(raw);
  if (!r.success) throw new UserError(`${where}: ${formatZodError(r.error)}`);
  const c = r.data;
  if (c.imgSize % c.patchSize !== 0) {
    throw new UserError(`${where}: imgSize ${c.imgSize} is not a multiple of patchSize ${c.patchSize}`);
  }
  if (c.embedDim % c.numHeads !== 0) {
    throw new UserError(`${where}: embedDim ${c.embedDim} is not divisible by numHeads ${c.numHeads}`);
  }
  for (const l of c.gatedLayers) {
    if (l >= c.depth) throw new UserError(`${where}: gatedLayers has ${l}, but depth is ${c.depth} (allowed 0..${c.depth - 1})`);
  }
  return c;
}

/** One line per issue, naming the key path and what was expected. */
export function formatZodError(e: z.ZodError): string {
  return e.issues
    .map((i) => {
      const path = i.path.length > 0 ? i.path.join('.') : '(root)';
      if (i.code === 'unrecognized_keys') return `unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')} at ${path}`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}
