/**
 * The every-layer sweep (`steer --layers`, docs/design.md "Steering at every layer"); the compute is
 * src/steer/layer_sweep.ts. For each steered layer l: SAE_l (`<run>/layers/<l>/sae/`, the final layer's
 * `<run>/sae/`) and its index sets, every strategy of `steer.strategies` at `steer.layerAlphas` and the
 * threshold at `steer.layerBetas`, each a forward pass over the test images from block l
 * -> `<run>/steer/layers.json` (src/steer/layers_results.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, loadRunData } from '../config.js';
import { UserError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { layerStageDir, layerStageVerb, loadStageViT, stageDir } from '../run/layout.js';
import { requireFresh } from '../run/provenance.js';
import { loadTrainedSae } from '../sae/checkpoint.js';
import { loadFeaturesManifest } from '../steer/features.js';
import { layerSweepRuns, summariseForwardRun, type LayerConfig, type LayerSteering } from '../steer/layer_sweep.js';
import { steeredLayers, type LayerSpec } from '../steer/layers.js';
import { validateLayersResults, type LayerKnob, type LayerPoint, type LayersResults } from '../steer/layers_results.js';
import { loadStats } from '../steer/stats.js';
import { toSets } from '../steer/sweep.js';

export interface LayersStageOptions {
  run: string;
  /** Folder of layers.json. */
  out: string;
  cfg: Config;
  /** Layers to steer; default the config's `steer.layers`. */
  layers?: LayerSpec;
  onProgress?: (done: number, total: number) => void;
}

/** Load each steered layer's SAE and index sets, checking each SAE was trained on its layer. */
function loadLayerSteering(run: string, layers: readonly number[], finalLayer: number, dim: number): LayerSteering[] {
  const loaded: LayerSteering[] = [];
  try {
    for (const layer of layers) {
      const saeDir = layerStageDir(run, 'sae', layer, finalLayer);
      const statsDir = layerStageDir(run, 'stats', layer, finalLayer);
      // A layer's own verb in the hint (the loaders name the final layer's).
      if (!existsSync(saeDir)) throw new UserError(`no SAE for layer ${layer} in ${saeDir}; run \`${layerStageVerb('sae', layer, finalLayer)}\` first`);
      if (!existsSync(join(statsDir, 'stats.json')))
        throw new UserError(`no latent statistics for layer ${layer} in ${statsDir}; run \`${layerStageVerb('stats', layer, finalLayer)}\` first`);
      requireFresh(saeDir, layerStageVerb('sae', layer, finalLayer));
      requireFresh(statsDir, layerStageVerb('stats', layer, finalLayer));
      const sae = loadTrainedSae(saeDir, dim, { layer, finalLayer });
      const stats = loadStats(statsDir);
      loaded.push({ layer, sae, sets: toSets(stats), meanActive: Float32Array.from(stats.meanActive) });
      if (stats.global.length !== sae.dSae)
        throw new UserError(
          `${join(statsDir, 'stats.json')} counts ${stats.global.length} latents, but the SAE in ${saeDir} has ${sae.dSae}; rerun \`${layerStageVerb('stats', layer, finalLayer)}\``,
        );
    }
  } catch (e) {
    for (const l of loaded) l.sae.dispose();
    throw e;
  }
  return loaded;
}

/** The every-layer sweep into `out/layers.json`. */
export function layersStage(o: LayersStageOptions): LayersResults {
  const s = o.cfg.steer;
  const spec = o.layers ?? s.layers;
  const manifest = loadFeaturesManifest(stageDir(o.run, 'extract'));
  const finalLayer = manifest.depth - 1;
  const { model } = loadStageViT(manifest.checkpoint);
  try {
    const layers = steeredLayers(spec, model.config, 'steer.layers');
    if (layers.length === 0)
      throw new UserError("steer.layers is 'final': the final layer's sweep is `headsteer steer` (steer/results.json); give 'all' or layer indices");
    if (s.target !== 'gate')
      throw new UserError(`steer.target '${s.target}' is defined at the final layer only; every-layer steering feeds x~ to the layer's gate ('gate')`);
    const steering = loadLayerSteering(o.run, layers, finalLayer, manifest.dim);
    try {
      const ds = loadRunData(o.cfg);
      const alphas = [...new Set(s.layerAlphas)].sort((a, b) => a - b);
      const betas = [...new Set(s.layerBetas)].sort((a, b) => a - b);
      // alpha = 0 and beta = 0 are one configuration, x_hat at the gate: evaluated once, first.
      const configs: LayerConfig[] = [
        { kind: 'reconstruction' },
        ...s.strategies.flatMap((strategy) => alphas.filter((a) => a !== 0).map((alpha): LayerConfig => ({ kind: 'steer', strategy, alpha }))),
        ...betas.filter((b) => b !== 0).map((beta): LayerConfig => ({ kind: 'threshold', beta })),
      ];
      const { baseline, runs } = layerSweepRuns(model, ds.test, ds, steering, {
        configs,
        steer: { mode: s.mode, keepError: s.keepError },
        batchSize: o.cfg.eval.batchSize,
        ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
      });
      const labels = Int32Array.from(ds.test.labels.subarray(0, ds.test.count));
      const H = model.config.numHeads;
      const gated = [...model.config.gatedLayers].sort((a, b) => a - b);
      const summary = (run: (typeof runs)[number][number]) => summariseForwardRun(run, labels, ds.classNames, H, gated);
      const points: LayerPoint[] = layers.flatMap((layer, i) => {
        const at = (c: LayerConfig): ReturnType<typeof summary> => summary(runs[i]![configs.findIndex((x) => sameConfig(x, c))]!);
        const point = (knob: LayerKnob, param: number, c: LayerConfig): LayerPoint => {
          const r = at(c);
          return {
            layer,
            knob,
            param,
            accuracy: r.accuracy,
            layerUsage: r.perLayerUsage[layer]!,
            totalUsage: r.totalUsage,
            perLayerUsage: r.perLayerUsage,
            perClass: r.perClass,
          };
        };
        const recon: LayerConfig = { kind: 'reconstruction' };
        return [
          ...s.strategies.flatMap((strategy) => alphas.map((alpha) => point(strategy, alpha, alpha === 0 ? recon : { kind: 'steer', strategy, alpha }))),
          ...betas.map((beta) => point('threshold', beta, beta === 0 ? recon : { kind: 'threshold', beta })),
        ];
      });
      const results: LayersResults = {
        depth: model.config.depth,
        gatedLayers: gated,
        layers,
        strategies: [...s.strategies],
        alphas,
        betas,
        options: { mode: s.mode, keepError: s.keepError },
        baseline: summary(baseline),
        points,
      };
      const file = join(o.out, 'layers.json');
      validateLayersResults(results, file);
      writeJsonAtomic(file, results);
      return results;
    } finally {
      for (const l of steering) l.sae.dispose();
    }
  } finally {
    model.dispose();
  }
}

function sameConfig(a: LayerConfig, b: LayerConfig): boolean {
  if (a.kind === 'steer' && b.kind === 'steer') return a.strategy === b.strategy && a.alpha === b.alpha;
  if (a.kind === 'threshold' && b.kind === 'threshold') return a.beta === b.beta;
  return a.kind === b.kind;
}
