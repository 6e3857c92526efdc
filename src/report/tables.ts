/**
 * The report's tables as HTML: dense vs pruned vs random policy, SAE metrics with splice-back, per-class
 * accuracy, headline steering numbers, the top-gain classes with their bootstrap intervals and null,
 * steering's margins over the controls' frontiers, our results next to the paper's (CIFAR-100, ViT-S/16),
 * timings and the run config. Each returns a notice instead when its stage or control has not run.
 */
import type { SteerResults } from '../steer/results.js';
import { PAPER_ALPHA } from '../steer/strategies.js';
import { BAR_NAME, CONTROLS_MISSING, type FrontierSummary, fmtAlpha, marginPt } from './controls.js';
import { maxOffDiagonal, PAPER_GLOBAL_OVERLAP, SUPPRESS_ALPHA, sweepAt, topGainAlpha } from './figures_steer.js';
import { jsonDetails, notice, table, type Cell } from './html.js';
import { notRunYet, type ModelStage, type RunInputs } from './inputs.js';

/** Paper numbers (CIFAR-100, ViT-S/16, 30% of heads pruned; SAE 8x, k = 64). */
export const PAPER = {
  denseAccuracy: 0.9127,
  prunedAccuracy: 0.8979,
  prunedFraction: 0.3,
  saeMse: 0.0228,
  spliceDeltaAccuracyPt: -0.12,
  spliceDeltaUsage: 0.025,
  globalVsPerClass: PAPER_GLOBAL_OVERLAP,
} as const;

export const pct = (v: number | undefined, digits = 2): string => (v === undefined ? '—' : `${(100 * v).toFixed(digits)}%`);
export const fix = (v: number | undefined, digits = 3): string => (v === undefined ? '—' : v.toFixed(digits));
export const signed = (v: number, digits: number, unit = ''): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}${unit}`;
const arrow = (a: string, b: string): string => `${a} → ${b}`;

/** Dense vs pruned vs random policy: accuracy, overall and final-layer head usage. */
export function modelsTable(inp: RunInputs): string {
  const rows: Cell[][] = [];
  const d = inp.dense.eval;
  const p = inp.pruned.eval;
  if (d !== undefined) rows.push(['dense ViT (no gates)', pct(d.accuracy), fix(d.headUsage.overall), fix(d.headUsage.perLayer.at(-1)), String(d.count)]);
  if (p !== undefined) rows.push(['pruned ViT (learned gates)', pct(p.accuracy), fix(p.headUsage.overall), fix(p.headUsage.perLayer.at(-1)), String(p.count)]);
  if (p?.randomPolicy !== undefined) {
    const r = p.randomPolicy;
    rows.push(['random policy (same per-layer rates)', pct(r.accuracy), fix(r.headUsage.overall), fix(r.headUsage.perLayer.at(-1)), String(p.count)]);
  }
  const missing = [d === undefined ? notice(notRunYet('pretrain')) : '', p === undefined ? notice(notRunYet('prune')) : ''].join('');
  if (rows.length === 0) return missing;
  return (
    table(['model', 'test accuracy', 'head usage (all layers)', 'final-layer usage', 'test images'], rows, 'Dense vs pruned vs random head-pruning policy') +
    missing
  );
}

/** SAE reconstruction metrics and splice-back (x_hat replaces x at the final decision network). */
export function saeTable(inp: RunInputs): string {
  const { config, metrics } = inp.sae;
  if (config === undefined || metrics === undefined) return notice(notRunYet('sae'));
  const s = metrics.spliceBack;
  const rows: Cell[][] = [
    ['width d → latents n (k active)', `${config.d_in} → ${config.d_sae} (k = ${config.k})`],
    ['training epochs', String(config.train.epochs)],
    ['MSE (test)', metrics.mse.toPrecision(4)],
    ['fraction of variance unexplained (FVU)', metrics.fvu.toFixed(4)],
    ['L0 (active latents per sample)', metrics.l0.toFixed(1)],
    ['dead latents (test / train)', `${pct(metrics.deadFraction, 1)} / ${pct(metrics.trainDeadFraction, 1)}`],
    ['accuracy: x → x̂ (splice-back)', arrow(pct(metrics.baseline.accuracy), pct(s.accuracy))],
    ['final-layer usage: x → x̂', arrow(fix(metrics.baseline.headUsage), fix(s.headUsage))],
    ['splice-back Δ accuracy', signed(100 * s.deltaAccuracy, 2, ' pt')],
    ['splice-back Δ final-layer usage', signed(s.deltaHeadUsage, 4)],
  ];
  return table(['metric', 'value'], rows, 'Sparse autoencoder on the final block’s residual CLS input');
}

/** Per-class test accuracy, dense and pruned. */
export function perClassTable(inp: RunInputs): string {
  const d = inp.dense.eval;
  const p = inp.pruned.eval;
  const names = p?.classNames ?? d?.classNames;
  if (names === undefined) return notice(notRunYet('pretrain'));
  const rows = names.map((name, c): Cell[] => {
    const a = d?.perClassAccuracy[c];
    const b = p?.perClassAccuracy[c];
    return [name, pct(a, 1), pct(b, 1), a === undefined || b === undefined ? '—' : signed(100 * (b - a), 1, ' pt')];
  });
  return table(['class', 'dense', 'pruned', 'Δ (pruned − dense)'], rows, 'Per-class test accuracy');
}

/** Each strategy at SUPPRESS_ALPHA and PAPER_ALPHA (accuracy, final-layer usage), with the unsteered baselines. */
export function steeringTable(inp: RunInputs): string {
  const r = inp.steer;
  if (r === undefined) return notice(notRunYet('steer'));
  const alphas = [SUPPRESS_ALPHA, PAPER_ALPHA];
  const strategies = [...new Set(r.sweeps.map((s) => s.strategy))];
  const rows: Cell[][] = [
    ['unsteered (x)', ...alphas.flatMap(() => [pct(r.baseline.accuracy), fix(r.baseline.headUsage)])],
    ['SAE reconstruction (x̂)', ...alphas.flatMap(() => [pct(r.reconstruction.accuracy), fix(r.reconstruction.headUsage)])],
    ...strategies.map((st): Cell[] => [
      st,
      ...alphas.flatMap((a) => {
        const w = sweepAt(r, st, a);
        return [pct(w?.accuracy), fix(w?.headUsage)];
      }),
    ]),
  ];
  const header = ['index set S', ...alphas.flatMap((a) => [`accuracy, α = ${a}`, `final-layer usage, α = ${a}`])];
  return table(header, rows, 'Headline steering numbers (test set)');
}

/** Our numbers next to the paper's; the datasets differ, so the comparison is of trends, not values. */
export function paperTable(inp: RunInputs): string {
  const dense = inp.dense.eval;
  const pruned = inp.pruned.eval;
  const m = inp.sae.metrics;
  const cfg = inp.pruned.config ?? inp.dense.config;
  const ours =
    cfg === undefined
      ? '—'
      : `${cfg.data.name}, ViT depth ${cfg.model.depth}, width ${cfg.model.embedDim}, ${cfg.model.numHeads} heads, patch ${cfg.model.patchSize}`;
  const overlap = inp.stats?.overlap ?? inp.steer?.overlap;
  const names = inp.stats?.classNames ?? pruned?.classNames ?? [];
  const pair = overlap === undefined ? undefined : maxOffDiagonal(overlap.classPairs);
  const best = inp.steer?.topGainClasses[0];
  const rows: Cell[][] = [
    ['data and model', 'CIFAR-100, ViT-S/16 (12 layers, 6 heads)', ours],
    ['dense accuracy', pct(PAPER.denseAccuracy), pct(dense?.accuracy)],
    ['pruned accuracy', pct(PAPER.prunedAccuracy), pct(pruned?.accuracy)],
    ['heads pruned', pct(PAPER.prunedFraction, 0), pruned === undefined ? '—' : pct(1 - pruned.headUsage.overall, 1)],
    ['SAE reconstruction MSE', String(PAPER.saeMse), m === undefined ? '—' : `${m.mse.toPrecision(4)} (FVU ${m.fvu.toFixed(4)})`],
    ['splice-back Δ accuracy', signed(PAPER.spliceDeltaAccuracyPt, 2, ' pt'), m === undefined ? '—' : signed(100 * m.spliceBack.deltaAccuracy, 2, ' pt')],
    ['splice-back Δ head usage', signed(PAPER.spliceDeltaUsage, 3), m === undefined ? '—' : signed(m.spliceBack.deltaHeadUsage, 3)],
    ['global vs per-class latent overlap', PAPER.globalVsPerClass.toFixed(4), overlap === undefined ? '—' : overlap.globalVsPerClass.toFixed(4)],
    [
      'most related class pair (overlap)',
      '≈0.38–0.39 (bowl/plate, beaver/squirrel)',
      pair === undefined ? '—' : `${pair.value.toFixed(2)} (${names[pair.a] ?? pair.a}/${names[pair.b] ?? pair.b})`,
    ],
    [
      `top-gain class, per-class α = ${topGainAlpha(inp.steer)}`,
      'bowl 76% → 82%, usage 0.72 → 0.33',
      best === undefined
        ? '—'
        : `${best.name} ${pct(best.accuracyBefore, 1)} → ${pct(best.accuracyAfter, 1)}, usage ${best.headUsageBefore.toFixed(2)} → ${best.headUsageAfter.toFixed(2)}`,
    ],
  ];
  return `${table(['quantity', 'paper', 'ours'], rows, 'Ours vs the paper')}
<p class="note">The dataset and model differ from the paper’s (CIFAR-100 and ViT-S/16 there), so absolute numbers are not comparable; MSE in particular scales with the residual stream’s variance, which FVU removes.</p>`;
}

function trainingRow(name: string, m: ModelStage): Cell[] | undefined {
  const last = m.train.at(-1);
  if (last === undefined) return undefined;
  const seconds = Math.max(...m.train.map((t) => t.time));
  const rates = m.train.map((t) => t.imagesPerSec).sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)] ?? 0;
  return [name, `${last.step} / ${last.totalSteps}`, String(m.epochs.length), formatDuration(seconds), median.toFixed(0)];
}

/** Wall time and throughput of each training stage (from the logs' `time`, seconds since stage start). */
export function timingsTable(inp: RunInputs): string {
  const rows = [trainingRow('pretrain (dense)', inp.dense), trainingRow('prune (gated)', inp.pruned)].filter((r): r is Cell[] => r !== undefined);
  const sae = inp.sae.epochs.at(-1);
  const parts: string[] = [];
  if (rows.length > 0) parts.push(table(['stage', 'steps done / total', 'epochs evaluated', 'wall time', 'median images/s'], rows, 'Training timings'));
  else parts.push(notice(notRunYet('pretrain')));
  if (sae !== undefined) {
    parts.push(
      `<p class="note">SAE training: ${sae.epoch} epochs, ${sae.step} steps${sae.samplesPerSec === undefined ? '' : `, ${sae.samplesPerSec.toFixed(0)} samples/s in the last epoch`}.</p>`,
    );
  }
  return parts.join('\n');
}

/** Seconds as "1 h 02 min", "3 min 05 s" or "12.3 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds - 60 * m)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** The resolved run config of the latest ViT stage, and the SAE's, as collapsible JSON. */
export function configBlock(inp: RunInputs): string {
  const cfg = inp.pruned.config ?? inp.dense.config;
  const parts: string[] = [];
  if (cfg !== undefined) {
    parts.push(jsonDetails(`run config (preset '${cfg.run.preset}', from ${inp.pruned.config === undefined ? 'dense' : 'pruned'}/config.json)`, cfg.run));
    parts.push(jsonDetails('model and data', { model: cfg.model, data: cfg.data }));
  }
  if (inp.sae.config !== undefined) parts.push(jsonDetails('SAE config (sae/config.json)', inp.sae.config));
  if (inp.steer !== undefined)
    parts.push(jsonDetails('steering options', { ks: inp.steer['ks'], topGainAlpha: inp.steer['topGainAlpha'], options: inp.steer['options'] }));
  return parts.length > 0 ? parts.join('\n') : notice(notRunYet('pretrain'));
}

/**
 * Per strategy and bar: the largest margin over it (pt) with its alpha and usage, how many alpha != 0
 * points lie above it, and which points use fewer heads than the bar reaches.
 */
export function frontierTable(sum: FrontierSummary): string {
  const rows = [...sum.threshold, ...sum.oracle].map((m): Cell[] => [
    m.strategy,
    BAR_NAME[m.bar],
    m.best === undefined ? '—' : `${marginPt(m.best.margin)} pt`,
    m.best === undefined ? '—' : fmtAlpha(m.best.alpha),
    fix(m.best?.usage),
    `${m.above} of ${m.points - m.unreachable.length}`,
    m.unreachable.length === 0 ? 'none' : m.unreachable.map((p) => `α = ${fmtAlpha(p.alpha)} (usage ${p.usage.toFixed(3)})`).join(', '),
  ]);
  return table(
    ['index set S', 'bar', 'largest margin', 'at α', 'at usage', 'points above (α ≠ 0, within reach)', 'below the bar’s reach (the bar cannot get there)'],
    rows,
    'Steering points against the threshold frontier and the per-class-threshold oracle (margin = accuracy above the bar at the same final-layer usage)',
  );
}

/** A signed change in points with its 95% interval, e.g. "+3.13 pt [−1.56, +7.81]". */
function withCi(delta: number, ci: readonly [number, number], digits: number, scale: number, unit: string): string {
  return `${signed(scale * delta, digits, unit)} [${signed(scale * ci[0], digits)}, ${signed(scale * ci[1], digits)}]`;
}

/**
 * Paper Fig. 3's classes as a table: accuracy and usage before and after per-class steering, each change
 * with its paired-bootstrap 95% interval, and the rank's null 95th percentile with whether the gain beats
 * it. Without controls the intervals and the null are left out and the page says how to get them.
 */
export function topGainTable(r: SteerResults): string {
  const top = r.topGainClasses;
  if (top.length === 0) return notice('steering results hold no top-gain classes');
  const a = topGainAlpha(r);
  const c = r.controls;
  const base: Cell[] = ['rank', 'class', `accuracy α = 0 → ${a}`, `usage α = 0 → ${a}`];
  if (c === undefined) {
    const rows = top.map((t, j): Cell[] => [
      j + 1,
      t.name,
      `${pct(t.accuracyBefore, 1)} → ${pct(t.accuracyAfter, 1)}`,
      `${fix(t.headUsageBefore)} → ${fix(t.headUsageAfter)}`,
    ]);
    return `${table(base, rows, `Top-gain classes under per-class steering (α = ${a})`)}\n${notice(CONTROLS_MISSING)}`;
  }
  const nul = c.topGainNull;
  const rows = top.map((t, j): Cell[] => {
    const d = c.perClassDelta.find((x) => x.class === t.class);
    const bar = nul?.p95[j];
    const beats = nul?.beats[j];
    return [
      j + 1,
      t.name,
      `${pct(t.accuracyBefore, 1)} → ${pct(t.accuracyAfter, 1)}`,
      `${fix(t.headUsageBefore)} → ${fix(t.headUsageAfter)}`,
      d === undefined ? '—' : withCi(d.deltaAccuracy, d.ci95.accuracy, 2, 100, ' pt'),
      d === undefined ? '—' : withCi(d.deltaHeadUsage, d.ci95.headUsage, 3, 1, ''),
      bar === undefined ? '—' : signed(100 * bar, 2, ' pt'),
      beats === undefined ? '—' : beats ? 'yes' : 'no',
    ];
  });
  const nullHead = nul === undefined ? 'null 95th percentile' : `null 95th percentile of this rank (α = ${nul.alpha}, ${nul.draws} draws)`;
  const note =
    nul === undefined
      ? notice('the top-gain null was not computed; rerun `headsteer steer --force` with `steer.nullDraws` above 0 to test the ranks')
      : `<p class="note">Intervals: paired bootstrap over the class’s test images, one class at a time; they do not account for these classes being chosen as the largest gains. The null does: rank j’s bar is the 95th percentile of the j-th largest gain when every class is steered with ${nul.ks} random latents instead of its own set (${nul.draws} draws). Each rank is a 5% test on its own; a claim about the single best class uses rank 1 alone. Ranks beating their null: ${nul.beats.filter((b) => b).length} of ${nul.beats.length}.</p>`;
  return `${table([...base, 'Δ accuracy [95% CI]', 'Δ usage [95% CI]', nullHead, 'gain beats null'], rows, `Top-gain classes under per-class steering (α = ${a}) with their controls`)}\n${note}`;
}
