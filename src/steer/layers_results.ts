/**
 * The every-layer sweep's artifact `steer/layers.json` (docs/design.md "Steering at every layer"): its
 * zod schema and types.
 *
 *   { depth, gatedLayers, layers,                  the model; the layers steered (ascending)
 *     strategies, alphas, betas, options,          what was swept (steer.strategies, layerAlphas, layerBetas)
 *     baseline: {accuracy, totalUsage, perLayerUsage, perClass},   the unsteered model (full forward)
 *     points: [{layer, knob, param, accuracy, layerUsage, totalUsage, perLayerUsage, perClass}] }
 *
 * A point is one configuration of one layer l: `knob` a steering strategy (param = alpha, paper Eq. 5 on
 * SAE_l's code, x~ fed to gate l only) or 'threshold' (param = beta, gate l's logits of x_hat shifted by
 * beta). Every later layer runs normally on what follows, so its usage is measured, not assumed.
 * alpha = 0 and beta = 0 are the same configuration, x_hat at gate l (the layer's reconstruction point):
 * evaluated once and recorded under every knob, the origin of every change at that layer.
 * `layerUsage` is layer l's fraction of heads kept, `perLayerUsage` every layer's (L; an ungated layer
 * runs all heads: 1), `totalUsage` the mean over the gated layers. Per class the same, on the class's
 * test images. All strict: a typo'd key fails.
 * Legend: L layers, C classes.
 */
import { z } from 'zod';
import { parseArtifact } from './results.js';
import { STEER_MODES } from './steering.js';
import { STRATEGIES } from './strategies.js';

const rate = z.number().min(0).max(1);
const layerIndex = z.number().int().min(0);

/** The knobs of a layer: the steering strategies and the threshold shift. */
export const LAYER_KNOBS = [...STRATEGIES, 'threshold'] as const;
export type LayerKnob = (typeof LAYER_KNOBS)[number];

/** One class's test images under a configuration. */
export const layerClassRowSchema = z.strictObject({
  class: z.number().int().min(0),
  name: z.string(),
  accuracy: rate,
  totalUsage: rate,
  perLayerUsage: z.array(rate), // (L)
});

/** One (layer, knob, param) configuration on the whole test set. */
export const layerPointSchema = z.strictObject({
  layer: layerIndex,
  knob: z.enum(LAYER_KNOBS),
  /** alpha for a strategy, beta for the threshold. */
  param: z.number(),
  accuracy: rate,
  /** The steered layer's usage, perLayerUsage[layer]. */
  layerUsage: rate,
  totalUsage: rate,
  perLayerUsage: z.array(rate), // (L)
  perClass: z.array(layerClassRowSchema), // (C)
});

export const layersResultsSchema = z
  .strictObject({
    depth: z.number().int().min(1),
    gatedLayers: z.array(layerIndex),
    layers: z.array(layerIndex).min(1),
    strategies: z.array(z.enum(STRATEGIES)),
    alphas: z.array(z.number()),
    betas: z.array(z.number()),
    options: z.strictObject({ mode: z.enum(STEER_MODES), keepError: z.boolean() }),
    baseline: z.strictObject({ accuracy: rate, totalUsage: rate, perLayerUsage: z.array(rate), perClass: z.array(layerClassRowSchema) }),
    points: z.array(layerPointSchema),
  })
  .superRefine((r, ctx) => {
    const L = r.depth;
    const perLayer = (v: readonly number[], path: Array<string | number>): void => {
      if (v.length !== L) ctx.addIssue({ code: 'custom', path, message: `expected ${L} per-layer usages (depth), got ${v.length}` });
    };
    perLayer(r.baseline.perLayerUsage, ['baseline', 'perLayerUsage']);
    r.baseline.perClass.forEach((c, j) => {
      perLayer(c.perLayerUsage, ['baseline', 'perClass', j, 'perLayerUsage']);
    });
    r.layers.forEach((l, i) => {
      if (!r.gatedLayers.includes(l))
        ctx.addIssue({ code: 'custom', path: ['layers', i], message: `layer ${l} has no decision network (gated layers: [${r.gatedLayers.join(', ')}])` });
    });
    r.points.forEach((p, i) => {
      if (!r.layers.includes(p.layer))
        ctx.addIssue({ code: 'custom', path: ['points', i, 'layer'], message: `layer ${p.layer} is not among the steered layers [${r.layers.join(', ')}]` });
      perLayer(p.perLayerUsage, ['points', i, 'perLayerUsage']);
      if (p.perLayerUsage[p.layer] !== p.layerUsage)
        ctx.addIssue({
          code: 'custom',
          path: ['points', i, 'layerUsage'],
          message: `expected perLayerUsage[${p.layer}] = ${String(p.perLayerUsage[p.layer])}`,
        });
      p.perClass.forEach((c, j) => {
        perLayer(c.perLayerUsage, ['points', i, 'perClass', j, 'perLayerUsage']);
      });
    });
  });

export type LayerClassRow = z.infer<typeof layerClassRowSchema>;
export type LayerPoint = z.infer<typeof layerPointSchema>;
export type LayersResults = z.infer<typeof layersResultsSchema>;

/** Parsed every-layer results, or a UserError naming `file` and the first bad key path with what was expected. */
export function validateLayersResults(raw: unknown, file: string): LayersResults {
  return parseArtifact(layersResultsSchema, raw, file);
}
