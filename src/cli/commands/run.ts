/**
 * `headsteer run`: the main job. Checks the data, then chains the stages of the run folder
 * (src/run/layout.ts; docs/design.md "Pipeline and run folder") — pretrain, prune (with eval), extract,
 * sae, stats, latents, steer, report — skipping stages whose output is complete and resuming interrupted ones,
 * so rerunning after a Ctrl-C or a crash continues where it stopped. With `steer.layers` other than
 * 'final', extract, sae, stats and steer also cover each steered layer (docs/design.md "Steering at every
 * layer"), and a stage counts as complete only when every layer's part is. With `--from
 * <timm.safetensors>` (or a preset with `finetune.pretrained`) the dense model is imported instead of
 * pretrained, and fine-tuned on the run's data (`finetune`) before pruning.
 */
import type { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, configDiff, loadRunData, parseConfig, runConfigOf } from '../../config.js';
import type { Dataset } from '../../data/dataset.js';
import { UserError } from '../../errors.js';
import type { EvalReport } from '../../eval/full_forward.js';
import { readJson } from '../../io/atomic.js';
import { hasTrainingState } from '../../io/checkpoint.js';
import { extractStage } from '../../pipeline/extract.js';
import { layersStage } from '../../pipeline/layers.js';
import { latentsStage } from '../../pipeline/latents.js';
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
  STAGES,
  type Stage,
  type TrainStage,
} from '../../run/layout.js';
import { recordedConfig, staleReason } from '../../run/provenance.js';
import { loadFeaturesManifest } from '../../steer/features.js';
import { steeredLayers } from '../../steer/layers.js';
import type { SteerResults } from '../../steer/results.js';
import { PAPER_ALPHA } from '../../steer/strategies.js';
import { formatDuration, progressBar } from '../progress.js';
import { validateLayersResults } from '../../steer/layers_results.js';
import { collect, configFromFlags, holdLock, runDir, startEngine, withOverrides, type TrainFlags } from '../options.js';
import { EXTRACT_ENTRY, printSaeMetrics, saeProgress } from './features.js';
import { printLatentsSummary } from './latents.js';
import { printLayersSummary, printSteerSummary, STEER_ENTRY } from './steer.js';
import { REPLICA_ENTRY, trainWithProgress } from './train.js';

type RunFlags = Pick<TrainFlags, 'preset' | 'out' | 'set' | 'dataDir'> & { from?: string };

/** One numbered step of the job: the data check, then each stage. */
interface Step {
  name: string;
  /** Output complete and valid: skip. */
  done(): boolean;
  /** Why an existing output is redone rather than kept (stale, or built with another --set value), if it is. */
  redo(): string | undefined;
  run(): Promise<void>;
}

/**
 * Pretrain, finetune or prune, resuming an interrupted run and starting over when it is stale (`redo`);
 * `sets` are the command's overrides, which prune applies to the dense model's config.
 */
function trainStage(stage: TrainStage, run: string, cfg: Config, sets: string[], redo: boolean): Promise<void> {
  const resume = !redo && stageStatus(stageDir(run, stage)).state === 'interrupted';
  const overrides = (base: Config): Config => withOverrides(base, sets);
  return trainWithProgress((hooks) => {
    const o = { run, cfg, overrides, resume, force: redo, hooks, replicaEntry: REPLICA_ENTRY };
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

/**
 * Whether a config key is one a stage's output depends on (`STAGES[s].reads`); where data is read from,
 * the steered layers (added, never redone) and how many processes steer are not.
 */
function stageReads(stage: Stage, key: string): boolean {
  if (key === 'data.dataDir' || key === 'steer.layers' || key === 'steer.workers') return false;
  return STAGES[stage].reads.some((r) => key === r || key.startsWith(`${r}.`));
}

export function register(program: Command): void {
  program
    .command('run')
    .description('the full pipeline on one run folder, resuming where it stopped: data, pretrain, prune, extract, sae, stats, latents, steer, report')
    .option('--preset <name>', 'config preset: smoke, default, mnist, paper', 'default')
    .option('--out <run>', 'run folder (default: runs/<preset>)')
    .option('--set <key=value>', 'override a config value, e.g. --set prune.rho=0.6 (repeatable)', collect, [])
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .option('--from <weights>', 'start from a pretrained timm ViT (safetensors): import it, fine-tune it on the data, then prune')
    .action(async (flags: RunFlags, cmd: Command) => {
      const t0 = performance.now();
      await startEngine();
      const run = runDir(flags);
      const cfg = configFromFlags({ ...flags }, 'pretrain');
      holdLock(run, 'run');
      const sets = [...flags.set, ...(flags.dataDir === undefined ? [] : [`data.dataDir=${JSON.stringify(flags.dataDir)}`])];
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
      // Later stages use the config recorded with the pruned model (plus this command's overrides)...
      const laterConfig = (): Config => withOverrides(runConfigOf(dir('prune')), sets);
      // ... and a stage redone uses the config it was built with, if recorded (a `stats --set` is kept).
      const configAt = (out: string): Config => {
        const saved = recordedConfig(out);
        return saved === undefined ? laterConfig() : withOverrides(parseConfig(saved, out), sets);
      };
      // An output built with another value of a key this command sets: a checkpoint is never retrained
      // behind the user's back (one line saying how), anything else is redone with the new value.
      const changedBySets = (stage: Stage, out: string): string | undefined => {
        const saved = recordedConfig(out);
        if (saved === undefined || flags.set.length === 0) return undefined;
        const before = parseConfig(saved, out);
        const d = configDiff(before, withOverrides(before, flags.set)).find((c) => stageReads(stage, c.key));
        if (d === undefined) return undefined;
        const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));
        const what = `${out} was built with ${d.key}=${show(d.from)}, not ${show(d.to)}`;
        if (STAGES[stage].checkpoint) {
          throw new UserError(
            `--set ${d.key}: ${what}, and run does not retrain a finished model; use a new --out, or redo it with \`${STAGES[stage].verb} --force\` and the setting`,
          );
        }
        return what;
      };
      // Why the output in `out` is redone, if it is: stale inputs, or a --set of a key it depends on.
      const redoWhy = (stage: Stage, out: string): string | undefined => {
        if (!existsSync(out)) return undefined;
        const stale = staleReason(out);
        return stale === undefined ? changedBySets(stage, out) : `stale, ${stale}`;
      };
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
      const layersOf = (stage: 'sae' | 'stats'): string[] => [finalLayer(), ...extra()].map((l) => layerStageDir(run, stage, l, finalLayer()));
      const layerDone = (stage: 'sae' | 'stats', l: number): boolean => {
        const out = layerStageDir(run, stage, l, finalLayer());
        return layerStageDone(run, stage, l, finalLayer()) && redoWhy(stage, out) === undefined;
      };
      const saeLayer = async (layer: number): Promise<void> => {
        const out = layerStageDir(run, 'sae', layer, finalLayer());
        const hooks = saeProgress();
        let m: SaeStageMetrics;
        const force = redoWhy('sae', out) !== undefined;
        try {
          const resume = !force && !layerStageDone(run, 'sae', layer, finalLayer()) && existsSync(out) && hasTrainingState(out);
          m = await saeStage({ features: dir('extract'), out, cfg: configAt(out), resume, force, layer, hooks });
        } finally {
          hooks.done();
        }
        printSaeMetrics(out, m);
      };
      const stageRuns: Record<Stage, () => Promise<void>> = {
        pretrain: async () =>
          flags.from === undefined ? trainStage('pretrain', run, cfg, sets, false) : importStep(flags.from, dir('pretrain'), cfg, dataset ?? loadRunData(cfg)),
        finetune: () => trainStage('finetune', run, cfg, sets, redoWhy('finetune', dir('finetune')) !== undefined),
        prune: () => trainStage('prune', run, cfg, sets, redoWhy('prune', dir('prune')) !== undefined),
        extract: async () => {
          const bar = progressBar('extract ', 2, []);
          await extractStage({
            checkpoint: dir('prune'),
            out: dir('extract'),
            replicaEntry: EXTRACT_ENTRY,
            layers: laterConfig().steer.layers,
            onProgress: (split, n, total) => bar.update((split === 'test' ? 1 : 0) + n / total, {}),
          });
          bar.stop();
        },
        sae: async () => {
          for (const l of [finalLayer(), ...extra()]) if (!layerDone('sae', l)) await saeLayer(l);
        },
        stats: async () => {
          for (const l of [finalLayer(), ...extra()]) {
            if (layerDone('stats', l)) continue;
            const out = layerStageDir(run, 'stats', l, finalLayer());
            statsStage({ features: dir('extract'), sae: layerStageDir(run, 'sae', l, finalLayer()), out, cfg: configAt(out), layer: l });
            rmSync(layersResultsPath(run), { force: true }); // the every-layer sweep used the old statistics
          }
        },
        latents: async () => {
          const t = performance.now();
          const bar = progressBar('latents ', 1, []);
          const r = latentsStage({
            features: dir('extract'),
            sae: dir('sae'),
            stats: dir('stats'),
            out: dir('latents'),
            cfg: laterConfig(),
            onProgress: (n, total) => bar.update(n / total, {}),
          });
          bar.stop();
          printLatentsSummary(dir('latents'), r, (performance.now() - t) / 1000);
        },
        steer: async () => {
          if (!stageDone(run, 'steer') || redoWhy('steer', dir('steer')) !== undefined) {
            rmSync(layersResultsPath(run), { force: true }); // redone below with the same inputs
            const bar = progressBar('steer   ', 1, []);
            const r = await steerStage({
              replicaEntry: STEER_ENTRY,
              features: dir('extract'),
              sae: dir('sae'),
              stats: dir('stats'),
              out: dir('steer'),
              cfg: configAt(dir('steer')),
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
        latents: () => stageDone(run, 'latents'),
        steer: () => stageDone(run, 'steer') && layersDone(),
        report: () => stageDone(run, 'report'),
      };
      // Why a stage's existing output is redone, for each layer of the per-layer stages.
      const redo: Record<Stage, () => string | undefined> = {
        pretrain: () => redoWhy('pretrain', dir('pretrain')),
        finetune: () => redoWhy('finetune', dir('finetune')),
        prune: () => redoWhy('prune', dir('prune')),
        extract: () => redoWhy('extract', dir('extract')),
        sae: () =>
          layersOf('sae')
            .map((out) => redoWhy('sae', out))
            .find((w) => w !== undefined),
        stats: () =>
          layersOf('stats')
            .map((out) => redoWhy('stats', out))
            .find((w) => w !== undefined),
        latents: () => redoWhy('latents', dir('latents')),
        steer: () => redoWhy('steer', dir('steer')),
        report: () => undefined,
      };
      const steps: Step[] = [
        {
          // Not a stage (it writes nothing): the dataset is loaded up front so that bad data fails first.
          name: 'data',
          done: () => false,
          redo: () => undefined,
          run: async () => {
            const ds = loadRunData(cfg);
            if (flags.from !== undefined) dataset = ds; // the import step checks the model against it
            process.stderr.write(`  ${ds.name}: ${ds.train.count} train / ${ds.test.count} test images from ${ds.source}\n`);
          },
        },
        ...STAGE_ORDER.filter((stage) => stage !== 'finetune' || withFinetune).map(
          (stage): Step => ({
            name: stage === 'pretrain' && flags.from !== undefined ? 'import' : stage,
            done: done[stage],
            redo: redo[stage],
            run: stageRuns[stage],
          }),
        ),
      ];
      // A --preset or --set that would need a finished model retrained is refused before any work.
      const recorded = existsSync(dir('pretrain')) ? recordedConfig(dir('pretrain'))?.['preset'] : undefined;
      if (cmd.getOptionValueSource('preset') === 'cli' && recorded !== undefined && recorded !== flags.preset) {
        throw new UserError(
          `--preset ${flags.preset}: ${dir('pretrain')} was trained with preset '${String(recorded)}'; use a new --out, or leave --preset out to continue it`,
        );
      }
      for (const stage of ['pretrain', 'finetune', 'prune', 'sae'] as const) redoWhy(stage, dir(stage));
      for (const [i, step] of steps.entries()) {
        const label = `[${i + 1}/${steps.length}] ${step.name}`;
        const why = step.redo();
        if (why === undefined && step.done()) {
          process.stderr.write(`${label}: already complete, skipped\n`);
          continue;
        }
        const ts = performance.now();
        process.stderr.write(why === undefined ? `${label}\n` : `${label}: ${why}; redoing it\n`);
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
