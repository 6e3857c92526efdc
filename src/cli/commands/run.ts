/**
 * `headsteer run`: the main job. Checks the data, then chains the stages of the run folder
 * (src/run/layout.ts; docs/design.md "Pipeline and run folder") — pretrain, prune (with eval), extract,
 * sae, stats, steer, report — skipping stages whose output is complete and resuming interrupted ones,
 * so rerunning after a Ctrl-C or a crash continues where it stopped. With `steer.layers` other than
 * 'final', extract, sae, stats and steer also cover each steered layer (docs/design.md "Steering at every
 * layer"), and a stage counts as complete only when every layer's part is. With `--from
 * <timm.safetensors>` (or a preset with `finetune.pretrained`) the dense model is imported instead of
 * pretrained, and fine-tuned on the run's data (`finetune`) before pruning.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, loadRunData, runConfigOf } from '../../config.js';
import type { Dataset } from '../../data/dataset.js';
import { UserError } from '../../errors.js';
import type { EvalReport } from '../../eval/full_forward.js';
import { readJson } from '../../io/atomic.js';
import { hasTrainingState } from '../../io/checkpoint.js';
import { extractStage } from '../../pipeline/extract.js';
import { layersStage } from '../../pipeline/layers.js';
import { saeStage, type SaeStageMetrics } from '../../pipeline/sae.js';
import { statsStage, steerStage } from '../../pipeline/steer.js';
import { finetuneStage, finetuneTarget, pretrainStage, pruneStage } from '../../pipeline/train.js';
import { adaptedConfig } from '../../model/adapt.js';
import { importTimmFile } from '../../model/timm.js';
import { saveCheckpoint } from '../../io/checkpoint.js';
import {
  denseStage,
  layersResultsPath,
  layerStageDir,
  layerStageDone,
  modelConfigOf,
  stageDir,
  stageDone,
  stageStatus,
  STAGE_ORDER,
  type Stage,
  type TrainStage,
} from '../../run/layout.js';
import { loadFeaturesManifest } from '../../steer/features.js';
import { steeredLayers } from '../../steer/layers.js';
import type { SteerResults } from '../../steer/results.js';
import { PAPER_ALPHA } from '../../steer/strategies.js';
import { formatDuration, progressBar } from '../progress.js';
import { validateLayersResults } from '../../steer/layers_results.js';
import { collect, configFromFlags, runDir, startEngine, withOverrides, type TrainFlags } from '../options.js';
import { printSaeMetrics, saeProgress } from './features.js';
import { printLayersSummary, printSteerSummary } from './steer.js';
import { REPLICA_ENTRY, trainWithProgress } from './train.js';

type RunFlags = Pick<TrainFlags, 'preset' | 'out' | 'set' | 'dataDir'> & { from?: string };

/** One numbered step of the job: the data check, then each stage. */
interface Step {
  name: string;
  /** Output complete and valid: skip. */
  done(): boolean;
  run(): Promise<void>;
}

function trainStage(stage: TrainStage, run: string, cfg: Config): Promise<void> {
  const resume = stageStatus(stageDir(run, stage)).state === 'interrupted';
  return trainWithProgress((hooks) => {
    const o = { run, cfg, resume, force: false, hooks, replicaEntry: REPLICA_ENTRY };
    if (stage === 'pretrain') return pretrainStage(o);
    if (stage === 'finetune') return finetuneStage(o);
    return pruneStage(o);
  });
}

/**
 * `run --from`'s first step: the timm file imported into `<run>/dense/`, after checking that it can be
 * fitted to the run's data (patch size, channels), so a file that cannot leaves nothing behind.
 */
function importStep(file: string, denseDir: string, cfg: Config, ds: Dataset): void {
  const { model, config } = importTimmFile(file);
  try {
    adaptedConfig(config.model, finetuneTarget(cfg, ds), file);
    if (config.model.gatedLayers.length > 0) throw new UserError(`${file} holds a gated model; run --from takes a dense ViT (import it with import-timm)`);
    saveCheckpoint(denseDir, { config, weights: model.stateDict() });
  } finally {
    model.dispose();
  }
  const c = config.model;
  process.stderr.write(
    `  imported ${file}: depth ${c.depth}, width ${c.embedDim}, ${c.numHeads} heads, ${c.imgSize}px/${c.patchSize}, ${c.numClasses} classes\n`,
  );
}

export function register(program: Command): void {
  program
    .command('run')
    .description('the full pipeline on one run folder, resuming where it stopped: data, pretrain, prune, extract, sae, stats, steer, report')
    .option('--preset <name>', 'config preset: smoke, default, mnist, paper', 'default')
    .option('--out <run>', 'run folder (default: runs/<preset>)')
    .option('--set <key=value>', 'override a config value, e.g. --set prune.rho=0.6 (repeatable)', collect, [])
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .option('--from <weights>', 'start from a pretrained timm ViT (safetensors): import it, fine-tune it on the data, then prune')
    .action(async (flags: RunFlags) => {
      const t0 = performance.now();
      await startEngine();
      const run = runDir(flags);
      const cfg = configFromFlags({ ...flags }, 'pretrain');
      const dir = (stage: Stage): string => stageDir(run, stage);
      let reportPath = join(dir('report'), 'index.html');
      // The dense model comes from a timm file and is fine-tuned here (--from, a preset that asks for it,
      // or a run folder into which a model was imported or fine-tuned already).
      const denseImported = (): boolean =>
        stageDone(run, 'pretrain') && (readJson(join(dir('pretrain'), 'config.json'), 'checkpoint config') as { run?: unknown }).run === undefined;
      if (flags.from === undefined && cfg.finetune.pretrained && !stageDone(run, 'pretrain')) {
        throw new UserError(
          `preset '${cfg.preset}' fine-tunes a pretrained ViT (finetune.pretrained): pass --from <timm weights.safetensors>, e.g. a timm vit_small_patch16_224 state dict`,
        );
      }
      const withFinetune = flags.from !== undefined || cfg.finetune.pretrained || stageStatus(dir('finetune')).state !== 'missing' || denseImported();
      let dataset: Dataset | undefined;
      // Later stages use the config recorded with the pruned model (plus this command's overrides).
      const laterConfig = (): Config => withOverrides(runConfigOf(dir('prune')), flags.set);
      // Steering at more than the final layer (`steer.layers`): the steered layers of the pruned model,
      // and those of them that need features, an SAE and statistics of their own (all but the final one).
      const finalLayer = (): number => modelConfigOf(dir('prune')).depth - 1;
      const steered = (): number[] => steeredLayers(laterConfig().steer.layers, modelConfigOf(dir('prune')), 'steer.layers');
      const extra = (): number[] => steered().filter((l) => l !== finalLayer());
      const layersDone = (): boolean => {
        const want = steered();
        if (want.length === 0) return true;
        const file = layersResultsPath(run);
        if (!existsSync(file)) return false;
        const have = validateLayersResults(readJson(file, 'every-layer results'), file).layers;
        return want.every((l) => have.includes(l));
      };
      const saeLayer = async (layer: number): Promise<void> => {
        const out = layerStageDir(run, 'sae', layer, finalLayer());
        const hooks = saeProgress();
        let m: SaeStageMetrics;
        try {
          m = await saeStage({ features: dir('extract'), out, cfg: laterConfig(), resume: existsSync(out) && hasTrainingState(out), layer, hooks });
        } finally {
          hooks.done();
        }
        printSaeMetrics(out, m);
      };
      const stageRuns: Record<Stage, () => Promise<void>> = {
        pretrain: async () =>
          flags.from === undefined ? trainStage('pretrain', run, cfg) : importStep(flags.from, dir('pretrain'), cfg, dataset ?? loadRunData(cfg)),
        finetune: () => trainStage('finetune', run, cfg),
        prune: () => trainStage('prune', run, cfg),
        extract: async () => {
          const bar = progressBar('extract ', 2, []);
          extractStage({
            checkpoint: dir('prune'),
            out: dir('extract'),
            layers: laterConfig().steer.layers,
            onProgress: (split, n, total) => bar.update((split === 'test' ? 1 : 0) + n / total, {}),
          });
          bar.stop();
        },
        sae: async () => {
          if (!stageDone(run, 'sae')) await saeLayer(finalLayer());
          for (const l of extra()) if (!layerStageDone(run, 'sae', l, finalLayer())) await saeLayer(l);
        },
        stats: async () => {
          for (const l of [finalLayer(), ...extra()]) {
            if (layerStageDone(run, 'stats', l, finalLayer())) continue;
            statsStage({
              features: dir('extract'),
              sae: layerStageDir(run, 'sae', l, finalLayer()),
              out: layerStageDir(run, 'stats', l, finalLayer()),
              cfg: laterConfig(),
              layer: l,
            });
          }
        },
        steer: async () => {
          if (!stageDone(run, 'steer')) {
            const bar = progressBar('steer   ', 1, []);
            const r = steerStage({
              features: dir('extract'),
              sae: dir('sae'),
              stats: dir('stats'),
              out: dir('steer'),
              cfg: laterConfig(),
              onProgress: (n, total) => bar.update(n / total, {}),
            });
            bar.stop();
            printSteerSummary(dir('steer'), r);
          }
          if (layersDone()) return;
          const bar = progressBar('layers  ', 1, []);
          const r = layersStage({ run, out: dir('steer'), cfg: laterConfig(), onProgress: (n, total) => bar.update(n / total, {}) });
          bar.stop();
          printLayersSummary(layersResultsPath(run), r);
        },
        report: async () => {
          const { buildReport } = await import('../../report/report.js'); // loads vega only when needed
          reportPath = (await buildReport(run)).index;
        },
      };
      // A stage is complete when its own output is and, with more steered layers, every layer's part of it.
      const done: Record<Stage, () => boolean> = {
        pretrain: () => stageDone(run, 'pretrain'),
        finetune: () => stageDone(run, 'finetune'),
        prune: () => stageDone(run, 'prune'),
        extract: () => stageDone(run, 'extract') && extra().every((l) => loadFeaturesManifest(dir('extract')).layers.includes(l)),
        sae: () => stageDone(run, 'sae') && extra().every((l) => layerStageDone(run, 'sae', l, finalLayer())),
        stats: () => stageDone(run, 'stats') && extra().every((l) => layerStageDone(run, 'stats', l, finalLayer())),
        steer: () => stageDone(run, 'steer') && layersDone(),
        report: () => stageDone(run, 'report'),
      };
      const steps: Step[] = [
        {
          // Not a stage (it writes nothing): the dataset is loaded up front so that bad data fails first.
          name: 'data',
          done: () => false,
          run: async () => {
            const ds = loadRunData(cfg);
            if (flags.from !== undefined) dataset = ds; // the import step checks the model against it
            process.stderr.write(`  ${ds.name}: ${ds.train.count} train / ${ds.test.count} test images from ${ds.source}\n`);
          },
        },
        ...STAGE_ORDER.filter((stage) => stage !== 'finetune' || withFinetune).map(
          (stage): Step => ({ name: stage === 'pretrain' && flags.from !== undefined ? 'import' : stage, done: done[stage], run: stageRuns[stage] }),
        ),
      ];
      for (const [i, step] of steps.entries()) {
        const label = `[${i + 1}/${steps.length}] ${step.name}`;
        if (step.done()) {
          process.stderr.write(`${label}: already complete, skipped\n`);
          continue;
        }
        const ts = performance.now();
        process.stderr.write(`${label}\n`);
        await step.run();
        process.stderr.write(`${label}: done in ${formatDuration((performance.now() - ts) / 1000)}\n`);
      }

      const dense = readJson(join(dir(denseStage(run)), 'eval.json'), 'dense evaluation') as EvalReport;
      const pruned = readJson(join(dir('prune'), 'eval.json'), 'pruned evaluation') as EvalReport;
      const steer = readJson(join(dir('steer'), 'results.json'), 'steering results') as SteerResults;
      const perClass = steer.sweeps.find((s) => s.strategy === 'per-class' && s.alpha === PAPER_ALPHA);
      const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
      process.stdout.write(
        [
          '',
          `run folder: ${run} (${formatDuration((performance.now() - t0) / 1000)})`,
          `  dense ViT:   accuracy ${pct(dense.accuracy)}${denseStage(run) === 'finetune' ? ' (fine-tuned)' : ''}`,
          `  pruned ViT:  accuracy ${pct(pruned.accuracy)} at head usage ${pruned.headUsage.overall.toFixed(3)}` +
            (pruned.randomPolicy === undefined ? '' : ` (random policy at the same usage: ${pct(pruned.randomPolicy.accuracy)})`),
          ...(perClass === undefined
            ? []
            : [
                `  per-class steering at alpha ${PAPER_ALPHA}: accuracy ${pct(perClass.accuracy)}, final-layer head usage ${perClass.headUsage.toFixed(3)} (unsteered ${pct(steer.baseline.accuracy)}, ${steer.baseline.headUsage.toFixed(3)})`,
              ]),
          `  report: ${reportPath}`,
          '',
        ].join('\n'),
      );
    });
}
