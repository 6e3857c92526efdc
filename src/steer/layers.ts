/**
 * Which layers steering acts on (docs/design.md "Steering at every layer"): the config key
 * `steer.layers` and the `--layers` flags. 'final' is the paper's setting, the final layer through the
 * fast path and nothing more; 'all' adds every gated layer whose gate input depends on the image (all
 * but layer 0), explicit indices add those. Each added layer
 * gets its own features (the CLS token of its block's residual input), SAE, statistics and a full-forward
 * sweep in `steer/layers.json`.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';

/** `steer.layers`: 'final', 'all' or explicit gated layer indices. */
export const layerSpecSchema = z.union([z.literal('final'), z.literal('all'), z.array(z.number().int().min(0)).min(1)]);
export type LayerSpec = z.infer<typeof layerSpecSchema>;

/** What a spec is resolved against: the model's depth and its gated layers. */
export interface GatedModel {
  depth: number;
  gatedLayers: readonly number[];
}

/**
 * The layers a spec steers at with a full forward, ascending and distinct: [] for 'final' (the final
 * layer's fast path only); for 'all', every gated layer but layer 0. Block 0's input CLS is the CLS token
 * plus its position embedding, the same vector for every image: its gate's mask is fixed and an SAE has
 * nothing to encode. UserError (naming `where`) for a layer without a decision network, and for layer 0.
 */
export function steeredLayers(spec: LayerSpec, model: GatedModel, where: string): number[] {
  const gated = [...model.gatedLayers].sort((a, b) => a - b);
  if (spec === 'final') return [];
  if (spec === 'all') return gated.filter((l) => l > 0);
  const layers = [...new Set(spec)].sort((a, b) => a - b);
  for (const l of layers) {
    if (!gated.includes(l)) throw new UserError(`${where}: layer ${l} has no decision network (gated layers: [${gated.join(', ')}] of ${model.depth})`);
    if (l === 0)
      throw new UserError(
        `${where}: layer 0's gate reads the CLS token before any attention, the same vector for every image, so there is nothing to steer there (steerable: [${gated.filter((g) => g > 0).join(', ')}])`,
      );
  }
  return layers;
}

/** The steered layers other than the final one: those that need features, an SAE and statistics of their own. */
export function extraLayers(spec: LayerSpec, model: GatedModel, where: string): number[] {
  return steeredLayers(spec, model, where).filter((l) => l !== model.depth - 1);
}

/** A `--layers` flag: 'final', 'all' or a comma-separated list of layer indices. */
export function parseLayerSpec(text: string, flag = '--layers'): LayerSpec {
  const t = text.trim();
  if (t === 'final' || t === 'all') return t;
  return t.split(',').map((token) => {
    if (!/^\s*\d+\s*$/.test(token)) throw new UserError(`${flag}: '${t}' is not 'final', 'all' or layer indices like 0,2`);
    return Number(token);
  });
}

/** A `--layer` flag: one layer index. */
export function parseLayer(text: string, flag = '--layer'): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UserError(`${flag}: '${t}' is not a layer index (a whole number such as 0)`);
  return Number(t);
}
