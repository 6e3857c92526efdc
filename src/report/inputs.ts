/**
 * Reading a run folder (src/run/layout.ts) for the report: every stage's JSON/JSONL artifact, each
 * optional. A missing or unreadable file becomes a `StageNote` that the page shows in plain words
 * ("steering not run yet: run `headsteer steer`") instead of failing the whole report; only a missing
 * run folder is a UserError.
 *
 * Schemas are loose on purpose (extra keys pass): the report reads what it draws and nothing more.
 * Legend: C classes, L layers, H heads (final layer), F latents.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { denseStage, layersResultsPath, stageDir, stageDone, STAGES, type Stage, type TrainStage } from '../run/layout.js';
import { saeCheckpointConfigSchema, type SaeCheckpointConfig } from '../sae/checkpoint.js';
import { validateLayersResults, type LayersResults } from '../steer/layers_results.js';
import { validateResults, type SteerResults } from '../steer/results.js';

const num = z.number();
const usageSchema = z.object({ overall: num, perLayer: z.array(num) }); // perLayer (L)

const flopsPartsSchema = z.object({ patchEmbed: num, qkv: num, attention: num, proj: num, mlp: num, gate: num, head: num });

/** eval/flops.ts's FlopsReport; absent from eval.json written before FLOPs were counted. */
const flopsSchema = z.object({
  dense: num,
  masked: num,
  pruned: num,
  savedFraction: num,
  perLayer: z.array(z.object({ dense: num, pruned: num })), // (L)
  perClass: z.array(num), // (C)
  parts: z.object({ dense: flopsPartsSchema, pruned: flopsPartsSchema }),
});

const evalSchema = z.object({
  accuracy: num,
  perClassAccuracy: z.array(num), // (C)
  headUsage: usageSchema,
  flops: flopsSchema.optional(),
  classNames: z.array(z.string()), // (C)
  count: num,
  randomPolicy: z.object({ accuracy: num, headUsage: usageSchema }).optional(),
});

const trainLineSchema = z.object({
  kind: z.literal('train'),
  step: num,
  totalSteps: num,
  epoch: num,
  loss: num,
  accuracy: num,
  headUsage: num,
  imagesPerSec: num,
  time: num,
});

const epochLineSchema = z.object({
  kind: z.literal('epoch'),
  epoch: num,
  step: num,
  testAccuracy: num,
  testHeadUsage: num,
  perLayerUsage: z.array(num), // (L)
});

const checkpointConfigSchema = z.object({
  stage: z.string(),
  complete: z.boolean(),
  model: z.looseObject({ imgSize: num, patchSize: num, numClasses: num, embedDim: num, depth: num, numHeads: num }),
  run: z.looseObject({ preset: z.string() }),
  data: z.looseObject({ name: z.string(), classNames: z.array(z.string()) }),
});

const manifestSchema = z.looseObject({
  dim: num,
  heads: num,
  classNames: z.array(z.string()).optional(),
  train: z.object({ count: num }),
  test: z.looseObject({ count: num }),
});

const saeEpochSchema = z.looseObject({ epoch: num, step: num, mse: num, fvu: num, l0: num, deadFraction: num, samplesPerSec: num.optional() });

const saeMetricsSchema = z.object({
  mse: num,
  fvu: num,
  l0: num,
  deadFraction: num,
  trainDeadFraction: num.optional(),
  baseline: z.object({ accuracy: num, headUsage: num }),
  spliceBack: z.object({ accuracy: num, headUsage: num, deltaAccuracy: num, deltaHeadUsage: num }),
});

const statsSchema = z.looseObject({
  ks: num,
  classNames: z.array(z.string()), // (C)
  classSizes: z.array(num), // (C)
  overlap: z.object({ globalVsPerClass: num, classPairs: z.array(z.array(num)) }), // classPairs (C, C)
});

export type EvalFile = z.infer<typeof evalSchema>;
export type FlopsFile = z.infer<typeof flopsSchema>;
export type TrainLine = z.infer<typeof trainLineSchema>;
export type EpochLine = z.infer<typeof epochLineSchema>;
export type CheckpointConfig = z.infer<typeof checkpointConfigSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type SaeEpoch = z.infer<typeof saeEpochSchema>;
export type SaeMetrics = z.infer<typeof saeMetricsSchema>;
export type Stats = z.infer<typeof statsSchema>;

/** A stage output that is absent, incomplete or unreadable, in words for the page. */
export interface StageNote {
  stage: Stage;
  kind: 'missing' | 'incomplete' | 'invalid';
  message: string;
}

/** A ViT training stage: checkpoint config, eval.json and the metrics.jsonl log (each may be absent). */
export interface ModelStage {
  config: CheckpointConfig | undefined;
  eval: EvalFile | undefined;
  train: TrainLine[];
  epochs: EpochLine[];
}

export interface SaeStage {
  config: SaeCheckpointConfig | undefined;
  metrics: SaeMetrics | undefined;
  /** Per-epoch training metrics from state.json (or the final ones from config.json). */
  epochs: SaeEpoch[];
}

/** Everything the report draws from, plus what is missing. */
export interface RunInputs {
  run: string;
  dense: ModelStage;
  pruned: ModelStage;
  features: Manifest | undefined;
  sae: SaeStage;
  stats: Stats | undefined;
  steer: SteerResults | undefined;
  /** The every-layer sweep (steer/layers.json), written only when steer.layers asks for it. */
  layers: LayersResults | undefined;
  notes: StageNote[];
}

/** One line saying what to do about a missing stage, e.g. "steering not run yet: run `headsteer steer`". */
export function notRunYet(stage: Stage): string {
  const s = STAGES[stage];
  return `${s.label} not run yet: run \`${s.verb}\``;
}

/**
 * Reads every stage artifact of `run`.
 * @throws UserError when `run` is not a folder.
 */
/**
 * The pruned model's FLOPs from its eval.json, or undefined when it is absent, invalid or predates FLOPs
 * counting (the report names which; callers that only add FLOPs beside other numbers go on without them).
 */
export function prunedFlops(run: string): FlopsFile | undefined {
  const path = join(stageDir(run, 'prune'), 'eval.json');
  if (!existsSync(path)) return undefined;
  const parsed = evalSchema.safeParse(readJson(path, 'evaluation'));
  return parsed.success ? parsed.data.flops : undefined;
}

export function loadRunInputs(run: string): RunInputs {
  if (!existsSync(run) || !statSync(run).isDirectory()) {
    throw new UserError(`run folder ${run} does not exist (expected the folder a \`headsteer run\` or \`headsteer pretrain --out\` wrote)`);
  }
  const notes: StageNote[] = [];
  const read = <T>(stage: Stage, file: string, schema: z.ZodType<T>, what: string): T | undefined => {
    const path = join(stageDir(run, stage), file);
    if (!existsSync(path)) {
      notes.push({ stage, kind: 'missing', message: `${notRunYet(stage)} (${STAGES[stage].folder}/${file} missing)` });
      return undefined;
    }
    try {
      const parsed = schema.safeParse(readJson(path, what));
      if (parsed.success) return parsed.data;
      const issue = parsed.error.issues[0];
      const at = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
      notes.push({ stage, kind: 'invalid', message: `${STAGES[stage].folder}/${file} is not a valid ${what} (${at}: ${issue?.message ?? 'bad shape'})` });
    } catch (err) {
      notes.push({ stage, kind: 'invalid', message: (err as Error).message });
    }
    return undefined;
  };

  const modelStage = (stage: TrainStage): ModelStage => {
    const config = read(stage, 'config.json', checkpointConfigSchema, 'checkpoint config');
    if (config !== undefined && !config.complete) {
      notes.push({
        stage,
        kind: 'incomplete',
        message: `${STAGES[stage].label} is not complete (interrupted?): resume with \`${STAGES[stage].verb} --resume\``,
      });
    }
    const log = readJsonLines(join(stageDir(run, stage), 'metrics.jsonl'));
    return {
      config,
      eval: config === undefined ? undefined : read(stage, 'eval.json', evalSchema, 'evaluation'),
      train: log.flatMap((r) => parseOr(trainLineSchema, r)),
      epochs: log.flatMap((r) => parseOr(epochLineSchema, r)),
    };
  };

  const dense = modelStage(denseStage(run)); // the dense model prune started from
  const pruned = modelStage('prune');
  const features = read('extract', 'manifest.json', manifestSchema, 'features manifest');

  const saeConfig = read('sae', 'config.json', saeCheckpointConfigSchema, 'SAE config');
  const saeMetrics = saeConfig === undefined ? undefined : read('sae', 'metrics.json', saeMetricsSchema, 'SAE metrics');
  if (saeConfig !== undefined && saeConfig.complete === false) {
    notes.push({ stage: 'sae', kind: 'incomplete', message: `SAE training is not complete: resume with \`${STAGES.sae.verb}\`` });
  }
  const statePath = join(stageDir(run, 'sae'), 'state.json');
  const state = existsSync(statePath) ? parseOr(z.looseObject({ metrics: z.array(saeEpochSchema) }), safeJson(statePath)) : [];
  const lastEpoch = parseOr(saeEpochSchema, saeConfig?.['metrics']);
  const sae: SaeStage = { config: saeConfig, metrics: saeMetrics, epochs: state[0]?.metrics ?? lastEpoch };

  const stats = read('stats', 'stats.json', statsSchema, 'latent statistics');

  let steer: SteerResults | undefined;
  const steerPath = join(stageDir(run, 'steer'), 'results.json');
  if (!existsSync(steerPath)) {
    notes.push({ stage: 'steer', kind: 'missing', message: `${notRunYet('steer')} (steer/results.json missing)` });
  } else {
    try {
      steer = validateResults(readJson(steerPath, 'steering results'), steerPath);
    } catch (err) {
      notes.push({ stage: 'steer', kind: 'invalid', message: (err as Error).message });
    }
  }
  // The latent section reads its own files (report/latents.ts); the header only says whether they exist.
  if (!stageDone(run, 'latents')) notes.push({ stage: 'latents', kind: 'missing', message: `${notRunYet('latents')} (latents/latents.json missing)` });
  // Optional: a run steered at the final layer only has none, and that is no note.
  let layers: LayersResults | undefined;
  const layersPath = layersResultsPath(run);
  if (existsSync(layersPath)) {
    try {
      layers = validateLayersResults(readJson(layersPath, 'every-layer steering results'), layersPath);
    } catch (err) {
      notes.push({ stage: 'steer', kind: 'invalid', message: (err as Error).message });
    }
  }
  return { run, dense, pruned, features, sae, stats, steer, layers, notes };
}

/** `[value]` when it fits the schema, else `[]` (for flatMap over log lines). */
function parseOr<T>(schema: z.ZodType<T>, value: unknown): T[] {
  const r = schema.safeParse(value);
  return r.success ? [r.data] : [];
}

function safeJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Records of a .jsonl log; lines cut short by a kill are skipped; a missing file is an empty log. */
function readJsonLines(path: string): unknown[] {
  if (!existsSync(path)) return [];
  const out: unknown[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as unknown);
    } catch {
      // a partial last line
    }
  }
  return out;
}
