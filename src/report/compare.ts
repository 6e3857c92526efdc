/**
 * `headsteer compare`: how robust is a steering result across runs (seeds, presets, recipes)? Reads
 * several finished run folders and writes `<out>/comparison.json` and `<out>/index.html` with:
 *   - one table row per run: seed, dense / pruned / random-policy accuracy, head usage, SAE FVU,
 *     splice-back, global-vs-per-class overlap, and the steering effect at the headline alphas;
 *   - Δ final-layer head usage and Δ accuracy vs alpha per strategy: the mean over runs with the
 *     min-max band, each Δ taken against the same run's alpha = 0 point (the SAE reconstruction),
 *     so the curves show steering alone, not reconstruction error;
 *   - how many runs agree in sign with the paper (per-class: alpha > 0 lowers usage, alpha < 0 raises it).
 * Legend: N runs, A alphas common to all runs.
 */
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import type { Strategy } from '../steer/results.js';
import { PAPER_ALPHA } from '../steer/strategies.js';
import { figureBlock, page, section, table, type Cell } from './html.js';
import { sameAlpha, sweepAt } from './figures_steer.js';
import { loadRunInputs, notRunYet } from './inputs.js';
import { renderFigure, STRATEGY_ORDER, strategyColorScale, type TopLevelSpec } from './render.js';
import { fix, pct, signed } from './tables.js';

/** One run's headline numbers (undefined: that stage's output is missing). */
export interface RunRow {
  run: string;
  seed: number | undefined;
  preset: string | undefined;
  denseAccuracy: number | undefined;
  prunedAccuracy: number | undefined;
  headUsage: number | undefined;
  randomPolicyAccuracy: number | undefined;
  saeFvu: number | undefined;
  spliceBackDeltaAccuracy: number | undefined;
  overlapGlobalVsPerClass: number;
  /** Final-layer usage and accuracy at alpha = 0 (SAE reconstruction). */
  reference: { headUsage: number; accuracy: number };
}

/** Δ vs alpha = 0 of one strategy at one alpha, over the N runs. */
export interface CurvePoint {
  strategy: Strategy;
  alpha: number;
  /** Per run, in run order (N). */
  deltaHeadUsage: number[];
  deltaAccuracy: number[];
}

export interface Comparison {
  runs: RunRow[];
  /** Alphas every run has (A), ascending. */
  alphas: number[];
  curves: CurvePoint[];
  /** The alphas the table and the sign check use: the most negative and the largest of the common grid, and PAPER_ALPHA when present. */
  headlineAlphas: number[];
  /** Per headline alpha: how many runs move per-class usage in the paper's direction. */
  paperSign: Array<{ alpha: number; agree: number; of: number }>;
}

const mean = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

/** Read the runs; every one must have finished the steer stage. */
export function loadComparison(runs: readonly string[]): Comparison {
  if (runs.length < 2) throw new UserError(`compare needs at least two run folders, got ${runs.length}`);
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(resolve(r))) throw new UserError(`${r}: given twice; compare each run folder once`);
    seen.add(resolve(r));
  }
  const inputs = runs.map((run) => {
    const inp = loadRunInputs(run);
    if (inp.steer === undefined) throw new UserError(`${run}: ${notRunYet('steer')} (compare reads steer/results.json)`);
    return { inp, steer: inp.steer };
  });
  const strategies = STRATEGY_ORDER.filter((s) => inputs.every(({ steer }) => steer.sweeps.some((w) => w.strategy === s)));
  const alphas = [...new Set(inputs[0]!.steer.sweeps.map((s) => s.alpha))]
    .filter((a) => inputs.every(({ steer }) => strategies.every((s) => sweepAt(steer, s, a) !== undefined)))
    .sort((a, b) => a - b);
  if (strategies.length === 0 || !alphas.some((a) => sameAlpha(a, 0)) || alphas.length < 2) {
    throw new UserError(`${runs.join(', ')}: the runs share no steering strategy with alpha 0 and another alpha; rerun steer with a common --alphas grid`);
  }
  const rows: RunRow[] = inputs.map(({ inp, steer }) => {
    const cfg = (inp.pruned.config ?? inp.dense.config)?.run as { preset?: string; seed?: number } | undefined;
    return {
      run: inp.run,
      seed: cfg?.seed,
      preset: cfg?.preset,
      denseAccuracy: inp.dense.eval?.accuracy,
      prunedAccuracy: inp.pruned.eval?.accuracy,
      headUsage: inp.pruned.eval?.headUsage.overall,
      randomPolicyAccuracy: inp.pruned.eval?.randomPolicy?.accuracy,
      saeFvu: inp.sae.metrics?.fvu,
      spliceBackDeltaAccuracy: inp.sae.metrics?.spliceBack.deltaAccuracy,
      overlapGlobalVsPerClass: steer.overlap.globalVsPerClass,
      reference: { headUsage: steer.reconstruction.headUsage, accuracy: steer.reconstruction.accuracy },
    };
  });
  const curves: CurvePoint[] = strategies.flatMap((strategy) => alphas.map((alpha) => {
    const points = inputs.map(({ steer }) => ({ at: sweepAt(steer, strategy, alpha)!, zero: sweepAt(steer, strategy, 0)! }));
    return {
      strategy,
      alpha,
      deltaHeadUsage: points.map((p) => p.at.headUsage - p.zero.headUsage),
      deltaAccuracy: points.map((p) => p.at.accuracy - p.zero.accuracy),
    };
  }));
  const headlineAlphas = [...new Set([alphas[0]!, ...alphas.filter((a) => sameAlpha(a, PAPER_ALPHA)), alphas.at(-1)!])]
    .filter((a) => !sameAlpha(a, 0)).sort((a, b) => a - b);
  const paperSign = strategies.includes('per-class')
    ? headlineAlphas.map((alpha) => {
        const d = curves.find((c) => c.strategy === 'per-class' && sameAlpha(c.alpha, alpha))!.deltaHeadUsage;
        return { alpha, agree: d.filter((v) => (alpha > 0 ? v < 0 : v > 0)).length, of: d.length };
      })
    : [];
  return { runs: rows, alphas, curves, headlineAlphas, paperSign };
}

/** Δ usage and Δ accuracy (pt) vs alpha: mean line and min-max band per strategy. */
export function comparisonFigure(c: Comparison): TopLevelSpec {
  const values = c.curves.flatMap((p) => [
    { panel: 'usage', strategy: p.strategy, alpha: p.alpha, mean: mean(p.deltaHeadUsage), lo: Math.min(...p.deltaHeadUsage), hi: Math.max(...p.deltaHeadUsage) },
    { panel: 'accuracy', strategy: p.strategy, alpha: p.alpha, mean: 100 * mean(p.deltaAccuracy), lo: 100 * Math.min(...p.deltaAccuracy), hi: 100 * Math.max(...p.deltaAccuracy) },
  ]);
  const color = { field: 'strategy', type: 'nominal', title: 'Index set S', scale: strategyColorScale() };
  const x = { field: 'alpha', type: 'quantitative', title: 'Steering strength α' };
  const panel = (name: string, title: string): object => ({
    width: 360,
    height: 260,
    transform: [{ filter: `datum.panel === '${name}'` }],
    layer: [
      { mark: { type: 'rule', color: '#555', strokeDash: [5, 4] }, encoding: { y: { datum: 0 } } },
      { mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title }, y2: { field: 'hi' }, fill: { ...color, legend: null } } },
      { mark: { type: 'line', point: { size: 18 } }, encoding: { x, y: { field: 'mean', type: 'quantitative', title }, color } },
    ],
  });
  return {
    title: { text: `Steering effect over ${c.runs.length} runs`, subtitle: 'Δ against each run’s α = 0 (SAE reconstruction); line: mean, band: min–max over runs' },
    data: { values },
    hconcat: [panel('usage', 'Δ final-layer head usage'), panel('accuracy', 'Δ accuracy (pt)')],
    // The bands' fill gets its own (identical) scale, so its null legend does not hide the lines' legend.
    resolve: { scale: { fill: 'independent' } },
  } as TopLevelSpec;
}

function runsTable(c: Comparison): string {
  const header: Cell[] = ['run', 'seed', 'dense', 'pruned', 'usage', 'random policy', 'SAE FVU', 'splice-back Δ', 'overlap'];
  const rows = c.runs.map((r): Cell[] => [r.run, r.seed ?? '—', pct(r.denseAccuracy), pct(r.prunedAccuracy), fix(r.headUsage),
    pct(r.randomPolicyAccuracy), fix(r.saeFvu, 4), r.spliceBackDeltaAccuracy === undefined ? '—' : `${signed(100 * r.spliceBackDeltaAccuracy, 2)} pt`,
    fix(r.overlapGlobalVsPerClass, 4)]);
  return table(header, rows, 'Each run: test accuracy, head usage and SAE quality');
}

function steeringTable(c: Comparison): string {
  const strategies = STRATEGY_ORDER.filter((s) => c.curves.some((p) => p.strategy === s));
  const cellOf = (usage: number, accuracy: number): string => `${signed(usage, 3)} / ${signed(100 * accuracy, 2)} pt`;
  const rows = c.headlineAlphas.flatMap((alpha) => strategies.map((strategy): Cell[] => {
    const p = c.curves.find((x) => x.strategy === strategy && sameAlpha(x.alpha, alpha))!;
    return [`${strategy}, α = ${alpha}`, ...p.deltaHeadUsage.map((u, i) => cellOf(u, p.deltaAccuracy[i]!)),
      cellOf(mean(p.deltaHeadUsage), mean(p.deltaAccuracy))];
  }));
  const reference: Cell[] = ['α = 0 usage / accuracy (reference)', ...c.runs.map((r) => `${fix(r.reference.headUsage)} / ${pct(r.reference.accuracy)}`),
    `${fix(mean(c.runs.map((r) => r.reference.headUsage)))} / ${pct(mean(c.runs.map((r) => r.reference.accuracy)))}`];
  return table(['strategy, α', ...c.runs.map((r) => r.run), 'mean'], [reference, ...rows],
    'Δ final-layer head usage / Δ accuracy against the same run’s α = 0');
}

function signSentence(c: Comparison): string {
  if (c.paperSign.length === 0) return '';
  const parts = c.paperSign.map((s) => `α ${s.alpha}: ${s.agree} of ${s.of} runs ${s.alpha > 0 ? 'lower' : 'raise'} final-layer usage under per-class steering`);
  return `<p>Paper’s direction (per-class steering lowers usage for α &gt; 0, raises it for α &lt; 0): ${parts.join('; ')}.</p>`;
}

/** Write `<out>/comparison.json`, `<out>/index.html` and the figure as SVG and PNG. */
export async function writeComparison(runs: readonly string[], out: string): Promise<{ index: string; json: string }> {
  const c = loadComparison(runs);
  const json = join(out, 'comparison.json');
  writeJsonAtomic(json, c);
  const { svg, png } = await renderFigure(comparisonFigure(c));
  const name = 'steering_over_runs';
  writeFileAtomic(join(out, 'figures', `${name}.svg`), svg);
  writeFileAtomic(join(out, 'figures', `${name}.png`), png);
  const body = [
    section('steering', 'Steering effect across runs', `${signSentence(c)}\n${figureBlock({ name, title: 'Δ head usage and Δ accuracy vs α', caption: `Mean over ${c.runs.length} runs with the min–max band; Δ against each run’s α = 0.`, svg })}\n${steeringTable(c)}`),
    section('runs', 'Runs', runsTable(c)),
  ].join('\n');
  const header = `<p>${c.runs.length} runs · alphas ${c.alphas[0]} … ${c.alphas.at(-1)} (${c.alphas.length} common) · data: <code>comparison.json</code></p>`;
  const index = join(out, 'index.html');
  writeFileAtomic(index, page('headsteer comparison', header, [['steering', 'Steering'], ['runs', 'Runs']], body));
  return { index, json };
}
