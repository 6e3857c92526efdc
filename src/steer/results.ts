/**
 * The `steer` stage's artifact `steer/results.json` (docs/design.md "Pipeline and run folder"; paper
 * Figures 2-5): its zod schema and types, the top-gain classes of paper Figure 3 (per-class steering at
 * PAPER_ALPHA = 1.2 vs alpha = 0), the flat CSV export, and the alpha grid given on the command line.
 *
 *   { baseline: {accuracy, headUsage},            the pruned ViT on x
 *     reconstruction: {accuracy, headUsage},      x_hat at the final decision network (splice-back)
 *     sweeps: [{strategy, alpha, accuracy, headUsage, perClass: [{class, name, accuracy, headUsage, heads}]}],
 *     overlap: {globalVsPerClass, classPairs},    stats.ts overlaps
 *     topGainClasses: [...] }                     see `topGainClasses`
 *
 * Accuracies and rates lie in [0, 1]; `heads` holds the final layer's per-head usage rate (H).
 * Strictness: the top level, baseline, reconstruction and overlap accept extra keys (run metadata,
 * per-head rates, ...); sweep entries, per-class rows and top-gain entries are strict, so a typo'd
 * key fails. Sweep entries, baseline and reconstruction may carry the overall per-head rates `heads`
 * (the CSV's 'all' rows use them).
 *
 * Legend: C classes, H heads.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';
import { PAPER_ALPHA, STRATEGIES } from './strategies.js';

const rate = z.number().min(0).max(1);
const heads = z.array(rate); // (H)

export const strategySchema = z.enum(STRATEGIES);

const summarySchema = z.looseObject({ accuracy: rate, headUsage: rate, heads: heads.optional() });

export const classRowSchema = z.strictObject({
  class: z.number().int().min(0),
  name: z.string(),
  accuracy: rate,
  headUsage: rate,
  heads,
});

export const sweepSchema = z.strictObject({
  strategy: strategySchema,
  alpha: z.number(),
  accuracy: rate,
  headUsage: rate,
  heads: heads.optional(),
  perClass: z.array(classRowSchema),
});

export const topGainSchema = z.strictObject({
  class: z.number().int().min(0),
  name: z.string(),
  accuracyBefore: rate,
  accuracyAfter: rate,
  gain: z.number().min(-1).max(1),
  headUsageBefore: rate,
  headUsageAfter: rate,
  headsBefore: heads,
  headsAfter: heads,
});

const interval = z.tuple([z.number(), z.number()]); // [lo, hi]

/**
 * A class's change under per-class steering (alpha vs 0) with its paired-bootstrap 95% interval,
 * resampling the class's test images (bootstrap.ts).
 */
export const classDeltaSchema = z.strictObject({
  class: z.number().int().min(0),
  deltaAccuracy: z.number().min(-1).max(1),
  deltaHeadUsage: z.number().min(-1).max(1),
  ci95: z.strictObject({ accuracy: interval, headUsage: interval }),
});

/** One point of the threshold baseline: the final gate's logits of x_hat shifted by beta. */
export const thresholdPointSchema = z.strictObject({
  beta: z.number(),
  accuracy: rate,
  headUsage: rate,
  heads,
  perClass: z.array(classRowSchema),
});

/** AdaViT's random policy at the per-head usage of one steering point. */
export const randomPolicyPointSchema = z.strictObject({ strategy: strategySchema, alpha: z.number(), accuracy: rate, headUsage: rate });

/**
 * The null of "the top classes by gain" (null.ts): the same selection under a random index set per
 * class of size ks, repeated `draws` times; p95[j] is the 95th percentile of the (j+1)-th largest gain.
 */
export const topGainNullSchema = z.strictObject({
  alpha: z.number(),
  draws: z.number().int().min(1),
  ks: z.number().int().min(1),
  p95: z.array(z.number().min(-1).max(1)),
  /** Per rank: the observed (j+1)-th largest gain exceeds p95[j]. */
  beats: z.array(z.boolean()),
});

/** The baselines that say whether steering does more than a cheaper knob (docs/design.md, Controls). */
export const controlsSchema = z.strictObject({
  /** Sorted by beta; beta = 0 is the reconstruction point. */
  threshold: z.array(thresholdPointSchema),
  randomPolicy: z.array(randomPolicyPointSchema),
  topGainNull: topGainNullSchema.optional(),
  /** Per class at the top-gain alpha (C rows). */
  perClassDelta: z.array(classDeltaSchema),
  /** (C) test images per class: the weights of the per-class-threshold oracle frontier. */
  classSizes: z.array(z.number().int().min(0)),
});

export const resultsSchema = z
  .looseObject({
    baseline: summarySchema,
    reconstruction: summarySchema,
    sweeps: z.array(sweepSchema),
    overlap: z.looseObject({ globalVsPerClass: rate, classPairs: z.array(z.array(rate)) }),
    topGainClasses: z.array(topGainSchema),
    /** Absent in results written before the controls existed. */
    controls: controlsSchema.optional(),
  })
  .superRefine((r, ctx) => {
    // One head count H for the whole file, and a square C x C pair matrix.
    let h: number | undefined;
    const sameH = (v: readonly number[], path: Array<string | number>): void => {
      h ??= v.length;
      if (v.length !== h) ctx.addIssue({ code: 'custom', path, message: `expected ${h} per-head rates (as elsewhere in the file), got ${v.length}` });
    };
    r.sweeps.forEach((s, i) => {
      if (s.heads !== undefined) sameH(s.heads, ['sweeps', i, 'heads']);
      s.perClass.forEach((c, j) => {
        sameH(c.heads, ['sweeps', i, 'perClass', j, 'heads']);
      });
    });
    r.topGainClasses.forEach((t, i) => {
      sameH(t.headsBefore, ['topGainClasses', i, 'headsBefore']);
      sameH(t.headsAfter, ['topGainClasses', i, 'headsAfter']);
    });
    const pairs = r.overlap.classPairs;
    pairs.forEach((row, i) => {
      if (row.length !== pairs.length)
        ctx.addIssue({
          code: 'custom',
          path: ['overlap', 'classPairs', i],
          message: `expected ${pairs.length} values (a square C x C matrix), got ${row.length}`,
        });
    });
  });

export type { Strategy } from './strategies.js';
export type ClassRow = z.infer<typeof classRowSchema>;
export type Sweep = z.infer<typeof sweepSchema>;
export type TopGainClass = z.infer<typeof topGainSchema>;
export type ThresholdPoint = z.infer<typeof thresholdPointSchema>;
export type RandomPolicyPoint = z.infer<typeof randomPolicyPointSchema>;
export type TopGainNull = z.infer<typeof topGainNullSchema>;
export type ClassDelta = z.infer<typeof classDeltaSchema>;
export type Controls = z.infer<typeof controlsSchema>;
export type SteerResults = z.infer<typeof resultsSchema>;

/** `raw` parsed by `schema`, or a UserError naming `file` and the first bad key path with what was expected. */
export function parseArtifact<T>(schema: z.ZodType<T>, raw: unknown, file: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  const what = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
  throw new UserError(`${file}: ${path}: ${what}`);
}

/** Parsed results, or a UserError naming `file` and the first bad key path with what was expected. */
export function validateResults(raw: unknown, file: string): SteerResults {
  return parseArtifact(resultsSchema, raw, file);
}

/** Same alpha up to float noise of a parsed grid. */
function sameAlpha(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

/**
 * Paper Figure 3: the n classes whose accuracy gains most under per-class steering at `alpha` vs
 * alpha = 0 (largest gain first; gains within 1e-12 tie and go to the lower class index).
 * UserError when either sweep is missing.
 */
export function topGainClasses(sweeps: readonly Sweep[], alpha = PAPER_ALPHA, n = 5): TopGainClass[] {
  const find = (a: number): Sweep => {
    const s = sweeps.find((w) => w.strategy === 'per-class' && sameAlpha(w.alpha, a));
    if (s === undefined) {
      const grid = sweeps.filter((w) => w.strategy === 'per-class').map((w) => w.alpha);
      throw new UserError(
        `top-gain classes need a per-class sweep at alpha = ${a}; the alpha grid has ${grid.length > 0 ? grid.join(', ') : 'no per-class sweeps'}`,
      );
    }
    return s;
  };
  const before = find(0);
  const after = new Map(find(alpha).perClass.map((c) => [c.class, c]));
  const rows: TopGainClass[] = [];
  for (const b of before.perClass) {
    const a = after.get(b.class);
    if (a === undefined) continue;
    rows.push({
      class: b.class,
      name: b.name,
      accuracyBefore: b.accuracy,
      accuracyAfter: a.accuracy,
      gain: a.accuracy - b.accuracy,
      headUsageBefore: b.headUsage,
      headUsageAfter: a.headUsage,
      headsBefore: [...b.heads],
      headsAfter: [...a.heads],
    });
  }
  // Gains closer than 1e-12 are ties (float noise of accuracy differences), broken by class index.
  rows.sort((u, v) => (Math.abs(v.gain - u.gain) > 1e-12 ? v.gain - u.gain : u.class - v.class));
  return rows.slice(0, n);
}

/** A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * One flat row per (strategy, alpha, class or 'all'):
 * strategy, alpha, class, name, accuracy, headUsage, head_0 .. head_{H-1}. 'all' rows leave the head
 * columns empty when the sweep entry has no overall `heads`. Header line first, '\n' line ends.
 */
export function resultsToCsv(results: Pick<SteerResults, 'sweeps'>): string {
  let h = 0;
  for (const s of results.sweeps) for (const c of s.perClass) h = Math.max(h, c.heads.length);
  for (const s of results.sweeps) h = Math.max(h, s.heads?.length ?? 0);
  const headCols = (v: readonly number[] | undefined): string[] => Array.from({ length: h }, (_, i) => (v?.[i] === undefined ? '' : String(v[i])));
  const lines = [['strategy', 'alpha', 'class', 'name', 'accuracy', 'headUsage', ...Array.from({ length: h }, (_, i) => `head_${i}`)].join(',')];
  for (const s of results.sweeps) {
    lines.push([s.strategy, s.alpha, 'all', 'all', s.accuracy, s.headUsage].map(csvField).concat(headCols(s.heads)).join(','));
    for (const c of s.perClass) {
      lines.push([s.strategy, s.alpha, c.class, c.name, c.accuracy, c.headUsage].map(csvField).concat(headCols(c.heads)).join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Decimal number tokens only (no hex, no Infinity, no empty string that Number() would read as 0). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const MAX_GRID = 10_000;

function num(token: string, spec: string): number {
  const t = token.trim();
  const v = Number(t);
  if (!NUMBER.test(t) || !Number.isFinite(v)) throw new UserError(`alpha grid '${spec}': '${t}' is not a number (expected e.g. -1:1.5:0.1 or 0,0.5,1.2)`);
  return v;
}

/** v rounded to 12 decimals (0.1 * 3 -> 0.3), with -0 as 0. */
function tidyFloat(v: number): number {
  return Number(v.toFixed(12)) + 0;
}

/**
 * The alpha grid of a CLI string, ascending without duplicates:
 * - range "start:end:step" (step > 0, start <= end): start, start + step, ..., end, both ends included;
 *   the step must reach end in whole steps; 0 is added when start < 0 < end and the steps miss it.
 * - list "a,b,c": the given values.
 * Values are rounded to 12 decimals so -1:1.5:0.1 yields 0.3, not 0.30000000000000004.
 * UserError naming the bad token for empty or non-numeric grids.
 */
export function parseAlphaGrid(spec: string): number[] {
  const s = spec.trim();
  if (s.length === 0) throw new UserError(`alpha grid is empty (expected a range start:end:step like -1:1.5:0.1, or a list like 0,0.5,1.2)`);
  let values: number[];
  if (s.includes(':')) {
    const parts = s.split(':');
    if (parts.length !== 3) throw new UserError(`alpha grid '${spec}': a range needs exactly start:end:step, got ${parts.length} part(s)`);
    const [start, end, step] = parts.map((p) => num(p, spec)) as [number, number, number];
    if (!(step > 0)) throw new UserError(`alpha grid '${spec}': step '${parts[2]!.trim()}' must be > 0`);
    if (start > end) throw new UserError(`alpha grid '${spec}': start ${start} is above end ${end}`);
    const steps = Math.round((end - start) / step);
    if (steps + 1 > MAX_GRID) throw new UserError(`alpha grid '${spec}': ${steps + 1} values, at most ${MAX_GRID} allowed`);
    if (Math.abs(start + steps * step - end) > 1e-9 * Math.max(1, Math.abs(end))) {
      throw new UserError(`alpha grid '${spec}': step ${step} does not reach end ${end} from ${start} in whole steps`);
    }
    values = Array.from({ length: steps + 1 }, (_, i) => tidyFloat(i === steps ? end : start + i * step));
    if (start < 0 && end > 0) values.push(0);
  } else {
    const tokens = s.split(',');
    values = tokens.map((t) => tidyFloat(num(t, spec)));
  }
  return [...new Set(values)].sort((a, b) => a - b);
}
