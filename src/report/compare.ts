/**
 * `headsteer compare`: how robust is a steering result across runs (seeds, presets, recipes)? Reads
 * several finished run folders and writes `<out>/comparison.json` and `<out>/index.html` with:
 *   - one table row per run: seed, dense / pruned / random-policy accuracy, head usage, SAE FVU,
 *     splice-back, global-vs-per-class overlap, and the steering effect at the headline alphas;
 *   - Δ final-layer head usage and Δ accuracy vs alpha per strategy: the mean over runs with the
 *     min-max band, each Δ taken against the same run's alpha = 0 point (the SAE reconstruction),
 *     so the curves show steering alone, not reconstruction error;
 *   - how many runs agree in sign with the paper (per-class: alpha > 0 lowers usage, alpha < 0 raises it);
 *   - the controls (docs/design.md, Controls): each strategy's largest margin over each run's threshold
 *     frontier (and the class strategies' over the per-class-threshold oracle), their mean with the
 *     min-max band over runs, "beats the threshold frontier by more than the seed band" only where the
 *     band lies wholly above 0, and per rank how many runs' top-gain class beats its null.
 * Legend: N runs, A alphas common to all runs.
 */
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import type { SteerResults, Strategy } from '../steer/results.js';
import { PAPER_ALPHA } from '../steer/strategies.js';
import { figureBlock, page, paragraph, section, table, type Cell } from './html.js';
import { type Bar, BAR_NAME, CONTROLS_MISSING, classShares, fmtAlpha, frontierSummary, MARGIN_TOLERANCE, marginPt } from './controls.js';
import { sameAlpha, sweepAt } from './figures_steer.js';
import { loadRunInputs, notRunYet, type RunInputs } from './inputs.js';
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

/** One strategy's largest margin over one bar in each run. */
export interface MarginOverRuns {
  strategy: Strategy;
  bar: Bar;
  /** Per run with controls, in run order: the largest margin and its alpha; null when no point is within the bar's reach. */
  perRun: Array<{ margin: number; alpha: number } | null>;
}

/** The controls over runs; only runs whose results carry controls take part. */
export interface ControlsOverRuns {
  /** Run folders whose results carry no controls (written before they existed). */
  missing: string[];
  /** Run folders with controls, the columns of `perRun`. */
  runs: string[];
  margins: MarginOverRuns[];
  /** Per rank (1-based): runs whose top-gain class at that rank beats the null's 95th percentile, of the runs with a null there. */
  nullBeats: Array<{ rank: number; beats: number; of: number }>;
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
  controls: ControlsOverRuns;
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
  const curves: CurvePoint[] = strategies.flatMap((strategy) =>
    alphas.map((alpha) => {
      const points = inputs.map(({ steer }) => ({ at: sweepAt(steer, strategy, alpha)!, zero: sweepAt(steer, strategy, 0)! }));
      return {
        strategy,
        alpha,
        deltaHeadUsage: points.map((p) => p.at.headUsage - p.zero.headUsage),
        deltaAccuracy: points.map((p) => p.at.accuracy - p.zero.accuracy),
      };
    }),
  );
  const headlineAlphas = [...new Set([alphas[0]!, ...alphas.filter((a) => sameAlpha(a, PAPER_ALPHA)), alphas.at(-1)!])]
    .filter((a) => !sameAlpha(a, 0))
    .sort((a, b) => a - b);
  const paperSign = strategies.includes('per-class')
    ? headlineAlphas.map((alpha) => {
        const d = curves.find((c) => c.strategy === 'per-class' && sameAlpha(c.alpha, alpha))!.deltaHeadUsage;
        return { alpha, agree: d.filter((v) => (alpha > 0 ? v < 0 : v > 0)).length, of: d.length };
      })
    : [];
  return { runs: rows, alphas, curves, headlineAlphas, paperSign, controls: controlsOverRuns(inputs, strategies) };
}

/** Each run's frontier margins (the same summary its report shows) and its null verdicts, gathered per strategy and rank. */
function controlsOverRuns(runs: ReadonlyArray<{ inp: RunInputs; steer: SteerResults }>, strategies: readonly Strategy[]): ControlsOverRuns {
  const missing = runs.filter(({ steer }) => steer.controls === undefined).map(({ inp }) => inp.run);
  const withControls = runs.flatMap(({ inp, steer }) => (steer.controls === undefined ? [] : [{ run: inp.run, steer, c: steer.controls }]));
  const summaries = withControls.map(({ steer, c }) => frontierSummary(steer, c, classShares(c)));
  const margins = (['threshold', 'oracle'] as const).flatMap((bar) =>
    strategies.flatMap((strategy): MarginOverRuns[] => {
      const rows = summaries.map((s) => s[bar].find((m) => m.strategy === strategy));
      if (rows.some((m) => m === undefined)) return []; // the oracle covers only the class strategies
      return [{ strategy, bar, perRun: rows.map((m) => (m?.best === undefined ? null : { margin: m.best.margin, alpha: m.best.alpha })) }];
    }),
  );
  const ranks = Math.max(0, ...withControls.map(({ c }) => c.topGainNull?.beats.length ?? 0));
  const nullBeats = Array.from({ length: ranks }, (_, j) => {
    const verdicts = withControls.flatMap(({ c }) => (c.topGainNull?.beats[j] === undefined ? [] : [c.topGainNull.beats[j]]));
    return { rank: j + 1, beats: verdicts.filter((b) => b).length, of: verdicts.length };
  });
  return { missing, runs: withControls.map((w) => w.run), margins, nullBeats };
}

/** Mean and min-max band of the margins, or undefined unless every run has one (a run out of reach has no margin to average). */
function marginBand(m: MarginOverRuns): { mean: number; lo: number; hi: number } | undefined {
  const v = m.perRun.map((p) => p?.margin);
  if (v.length === 0 || v.some((x) => x === undefined)) return undefined;
  const d = v as number[];
  return { mean: mean(d), lo: Math.min(...d), hi: Math.max(...d) };
}

/**
 * The plain statement over runs: a strategy "beats the threshold frontier by more than the seed band"
 * only when its band's minimum (the worst run's largest margin) is above 0; else the best mean with
 * its band. A largest margin is the best of a sweep's points, so it sits above 0 by chance too: the
 * random-set strategy's band is that chance level, and an SAE-informed strategy beats it only when its
 * worst run lies above the control's best. Plus the runs without controls and the null's verdict per rank.
 */
export function controlsStatement(c: ControlsOverRuns): string {
  if (c.runs.length === 0) return `${CONTROLS_MISSING} (no run’s results carry controls).`;
  const parts: string[] = [];
  if (c.missing.length > 0) parts.push(`Runs without controls, left out below: ${c.missing.join(', ')} (${CONTROLS_MISSING}).`);
  const n = c.runs.length;
  type Band = NonNullable<ReturnType<typeof marginBand>>;
  const bands = c.margins
    .filter((m) => m.bar === 'threshold')
    .flatMap((m) => {
      const band = marginBand(m);
      return band === undefined ? [] : [{ strategy: m.strategy, band }];
    })
    .sort((a, b) => b.band.mean - a.band.mean);
  const range = (b: Band): string => `mean ${marginPt(b.mean)} points, ${marginPt(b.lo)} to ${marginPt(b.hi)} over ${n} runs`;
  const winners = bands.filter(({ band }) => band.lo > MARGIN_TOLERANCE);
  if (n < 2) parts.push('Only one run has controls, so there is no seed band.');
  else if (winners.length > 0) {
    const list = winners.map(({ strategy, band }) => `${strategy} (largest margin ${range(band)})`).join('; ');
    parts.push(`${list} ${winners.length === 1 ? 'beats' : 'beat'} the threshold frontier by more than the seed band: every run has a point above it.`);
  } else {
    const best = bands[0];
    const detail =
      best === undefined
        ? 'no strategy has a point within every run’s threshold reach'
        : `the best, ${best.strategy}, has a largest margin of ${range(best.band)}`;
    parts.push(
      `No steering strategy beats the threshold frontier by more than the seed band (the band of largest margins over runs reaches 0 or below): ${detail}.`,
    );
  }
  const control = bands.find((b) => b.strategy === 'random');
  if (n >= 2 && control !== undefined) {
    const above = bands.filter((b) => b.strategy !== 'random' && b.band.lo > control.band.hi + MARGIN_TOLERANCE).map((b) => b.strategy);
    parts.push(
      `The random-set control (random latents, no hypothesis) has a largest margin of ${range(control.band)}: the best of a sweep's points lies that far above the frontier by chance. ` +
        (above.length === 0
          ? 'No SAE-informed strategy beats the random-set control by more than the seed band.'
          : `${above.join(', ')} ${above.length === 1 ? 'beats' : 'beat'} the random-set control by more than the seed band (its worst run above the control's best).`),
    );
  }
  if (c.nullBeats.length > 0) {
    parts.push(`Top-gain classes beating their null’s 95th percentile: ${c.nullBeats.map((r) => `rank ${r.rank}, ${r.beats} of ${r.of} runs`).join('; ')}.`);
  }
  return parts.join(' ');
}

/** Δ usage and Δ accuracy (pt) vs alpha: mean line and min-max band per strategy. */
export function comparisonFigure(c: Comparison): TopLevelSpec {
  const values = c.curves.flatMap((p) => [
    {
      panel: 'usage',
      strategy: p.strategy,
      alpha: p.alpha,
      mean: mean(p.deltaHeadUsage),
      lo: Math.min(...p.deltaHeadUsage),
      hi: Math.max(...p.deltaHeadUsage),
    },
    {
      panel: 'accuracy',
      strategy: p.strategy,
      alpha: p.alpha,
      mean: 100 * mean(p.deltaAccuracy),
      lo: 100 * Math.min(...p.deltaAccuracy),
      hi: 100 * Math.max(...p.deltaAccuracy),
    },
  ]);
  const color = { field: 'strategy', type: 'nominal', title: 'Index set S', scale: strategyColorScale() };
  const x = { field: 'alpha', type: 'quantitative', title: 'Steering strength α' };
  const panel = (name: string, title: string): object => ({
    width: 360,
    height: 260,
    transform: [{ filter: `datum.panel === '${name}'` }],
    layer: [
      { mark: { type: 'rule', color: '#555', strokeDash: [5, 4] }, encoding: { y: { datum: 0 } } },
      {
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x, y: { field: 'lo', type: 'quantitative', title }, y2: { field: 'hi' }, fill: { ...color, legend: null } },
      },
      { mark: { type: 'line', point: { size: 18 } }, encoding: { x, y: { field: 'mean', type: 'quantitative', title }, color } },
    ],
  });
  return {
    title: {
      text: `Steering effect over ${c.runs.length} runs`,
      subtitle: 'Δ against each run’s α = 0 (SAE reconstruction); line: mean, band: min–max over runs',
    },
    data: { values },
    hconcat: [panel('usage', 'Δ final-layer head usage'), panel('accuracy', 'Δ accuracy (pt)')],
    // The bands' fill gets its own (identical) scale, so its null legend does not hide the lines' legend.
    resolve: { scale: { fill: 'independent' } },
  } as TopLevelSpec;
}

function runsTable(c: Comparison): string {
  const header: Cell[] = ['run', 'seed', 'dense', 'pruned', 'usage', 'random policy', 'SAE FVU', 'splice-back Δ', 'overlap'];
  const rows = c.runs.map((r): Cell[] => [
    r.run,
    r.seed ?? '—',
    pct(r.denseAccuracy),
    pct(r.prunedAccuracy),
    fix(r.headUsage),
    pct(r.randomPolicyAccuracy),
    fix(r.saeFvu, 4),
    r.spliceBackDeltaAccuracy === undefined ? '—' : `${signed(100 * r.spliceBackDeltaAccuracy, 2)} pt`,
    fix(r.overlapGlobalVsPerClass, 4),
  ]);
  return table(header, rows, 'Each run: test accuracy, head usage and SAE quality');
}

function steeringTable(c: Comparison): string {
  const strategies = STRATEGY_ORDER.filter((s) => c.curves.some((p) => p.strategy === s));
  const cellOf = (usage: number, accuracy: number): string => `${signed(usage, 3)} / ${signed(100 * accuracy, 2)} pt`;
  const rows = c.headlineAlphas.flatMap((alpha) =>
    strategies.map((strategy): Cell[] => {
      const p = c.curves.find((x) => x.strategy === strategy && sameAlpha(x.alpha, alpha))!;
      return [
        `${strategy}, α = ${alpha}`,
        ...p.deltaHeadUsage.map((u, i) => cellOf(u, p.deltaAccuracy[i]!)),
        cellOf(mean(p.deltaHeadUsage), mean(p.deltaAccuracy)),
      ];
    }),
  );
  const reference: Cell[] = [
    'α = 0 usage / accuracy (reference)',
    ...c.runs.map((r) => `${fix(r.reference.headUsage)} / ${pct(r.reference.accuracy)}`),
    `${fix(mean(c.runs.map((r) => r.reference.headUsage)))} / ${pct(mean(c.runs.map((r) => r.reference.accuracy)))}`,
  ];
  return table(
    ['strategy, α', ...c.runs.map((r) => r.run), 'mean'],
    [reference, ...rows],
    'Δ final-layer head usage / Δ accuracy against the same run’s α = 0',
  );
}

function signSentence(c: Comparison): string {
  if (c.paperSign.length === 0) return '';
  const parts = c.paperSign.map(
    (s) => `α ${s.alpha}: ${s.agree} of ${s.of} runs ${s.alpha > 0 ? 'lower' : 'raise'} final-layer usage under per-class steering`,
  );
  return `<p>Paper’s direction (per-class steering lowers usage for α &gt; 0, raises it for α &lt; 0): ${parts.join('; ')}.</p>`;
}

/** Per strategy and bar: each run's largest margin (pt, at alpha), then the mean and min-max band. */
function controlsTable(c: ControlsOverRuns): string {
  const rows = c.margins.map((m): Cell[] => {
    const band = marginBand(m);
    return [
      m.strategy,
      BAR_NAME[m.bar],
      ...m.perRun.map((p) => (p === null ? 'out of reach' : `${marginPt(p.margin)} pt (α = ${fmtAlpha(p.alpha)})`)),
      band === undefined ? '—' : `${marginPt(band.mean)} pt`,
      band === undefined ? '—' : `${marginPt(band.lo)} … ${marginPt(band.hi)} pt`,
    ];
  });
  return table(['index set S', 'bar', ...c.runs, 'mean', 'min … max'], rows, 'Largest margin of any steering point (α ≠ 0) over each run’s bar');
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
    section(
      'steering',
      'Steering effect across runs',
      `${signSentence(c)}\n${figureBlock({ name, title: 'Δ head usage and Δ accuracy vs α', caption: `Mean over ${c.runs.length} runs with the min–max band; Δ against each run’s α = 0.`, svg })}\n${steeringTable(c)}`,
    ),
    section(
      'controls',
      'Steering against the controls across runs',
      `${paragraph(controlsStatement(c.controls), 'statement')}\n${c.controls.runs.length === 0 ? '' : controlsTable(c.controls)}`,
    ),
    section('runs', 'Runs', runsTable(c)),
  ].join('\n');
  const header = `<p>${c.runs.length} runs · alphas ${c.alphas[0]} … ${c.alphas.at(-1)} (${c.alphas.length} common) · data: <code>comparison.json</code></p>`;
  const index = join(out, 'index.html');
  writeFileAtomic(
    index,
    page(
      'headsteer comparison',
      header,
      [
        ['steering', 'Steering'],
        ['controls', 'Controls'],
        ['runs', 'Runs'],
      ],
      body,
    ),
  );
  return { index, json };
}
