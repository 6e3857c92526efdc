/**
 * The `report` stage: a static, self-contained HTML page `<run>/report/index.html` with the paper's
 * figures (2, 3, 4, 5), steering at every layer when the run has it (steer/layers.json), training
 * figures and tables, plus every figure as `<run>/report/figures/<name>.svg`
 * and `.png` (2x). Whatever stage has not run yet is named on the page with the verb that produces it.
 */
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { denseStage, STAGE_ORDER, STAGES, stageDir } from '../run/layout.js';
import { CONTROLS_MISSING, classShares, frontierStatement, frontierSummary } from './controls.js';
import { finalLayerFlops } from '../eval/flops.js';
import { classFrontierFigure, frontierFigure } from './figures_frontier.js';
import { layersFigure } from './figures_layers.js';
import { latentBlocks } from './latents.js';
import { alphaSweepFigure, headActivationFigure, overlapFigure, type FigureSpec } from './figures_steer.js';
import { perLayerUsageFigure, trainingFigure } from './figures_train.js';
import { esc, figureBlock, notice, page, paragraph, section } from './html.js';
import { loadRunInputs, notRunYet, type RunInputs } from './inputs.js';
import { renderFigure } from './render.js';
import { flopsTables } from './table_flops.js';
import { configBlock, frontierTable, modelsTable, paperTable, perClassTable, saeTable, steeringTable, timingsTable, topGainTable } from './tables.js';

/** Paths written by `buildReport`. */
export interface ReportOutput {
  /** `<run>/report/index.html` */
  index: string;
  /** `<run>/report/figures/<name>.svg` and `.png` of each rendered figure. */
  figures: string[];
}

/** A page block: either a figure to render, or HTML (a notice) standing in for it. */
type Block = { figure: FigureSpec } | { html: string };

/**
 * Builds the report of `run` from whatever stage outputs exist.
 * @throws UserError when `run` is not a folder.
 */
export async function buildReport(run: string): Promise<ReportOutput> {
  const inp = loadRunInputs(run);
  const out = stageDir(run, 'report');
  const figures: string[] = [];

  const renderBlocks = async (blocks: Block[]): Promise<string> => {
    const html: string[] = [];
    for (const b of blocks) {
      if ('html' in b) {
        html.push(b.html);
        continue;
      }
      const f = b.figure;
      const { svg, png } = await renderFigure(f.spec);
      const svgPath = join(out, 'figures', `${f.name}.svg`);
      const pngPath = join(out, 'figures', `${f.name}.png`);
      writeFileAtomic(svgPath, svg);
      writeFileAtomic(pngPath, png);
      figures.push(svgPath, pngPath);
      html.push(figureBlock({ ...f, svg }));
    }
    return html.join('\n');
  };

  const steer = inp.steer;
  const steerBlocks: Block[] =
    steer === undefined
      ? [{ html: notice(`${notRunYet('steer')} (Figures 2, 3 and 4 come from steer/results.json)`) }]
      : [
          { figure: alphaSweepFigure(steer, 1) },
          { figure: alphaSweepFigure(steer, -1) },
          ...[headActivationFigure(steer)].map(
            (f): Block => (f === undefined ? { html: notice('steering results hold no top-gain classes, so Figure 3 is empty') } : { figure: f }),
          ),
        ];
  const controlsBody = steer === undefined ? notice(notRunYet('steer')) : await renderBlocks(controlsBlocks(inp));
  // Figure 5 needs only the statistics stage; steer/results.json carries the same overlaps.
  const overlapSource =
    inp.stats ?? (steer === undefined ? undefined : { ks: Number(steer['ks'] ?? 0), classNames: classNamesOf(inp), classSizes: [], overlap: steer.overlap });
  const overlapBlocks: Block[] =
    overlapSource === undefined
      ? [{ html: notice(`${notRunYet('stats')} (Figure 5 comes from stats/stats.json)`) }]
      : [{ figure: overlapFigure(overlapSource) }];

  const training = trainingFigure(inp.dense, inp.pruned);
  const trainBlocks: Block[] = [training === undefined ? { html: notice(`${notRunYet('pretrain')} (no metrics.jsonl yet)`) } : { figure: training }];
  const layerBlocks: Block[] =
    inp.pruned.eval === undefined ? [{ html: notice(notRunYet('prune')) }] : [{ figure: perLayerUsageFigure(inp.pruned.eval, inp.pruned.config) }];

  // Only when the run steered beyond the final layer (steer.layers); absent otherwise, not a notice.
  const layersFig = inp.layers === undefined ? undefined : layersFigure(inp.layers);
  const layerSections =
    inp.layers === undefined
      ? []
      : [
          section(
            'layers',
            'Steering at every layer',
            await renderBlocks([layersFig === undefined ? { html: notice('steer/layers.json holds no point at a nonzero α or β') } : { figure: layersFig }]),
          ),
        ];
  const sections = [
    section(
      'steering',
      'Steering the final layer’s head pruning (paper Figures 2–4)',
      `${await renderBlocks(steerBlocks)}\n${steer === undefined ? '' : `${steeringTable(inp)}\n${topGainTable(steer)}`}`,
    ),
    section('controls', 'Controls: threshold shift, per-class oracle and random policy', controlsBody),
    ...layerSections,
    section('overlap', 'Semantic structure of the SAE latents (paper Figure 5)', await renderBlocks(overlapBlocks)),
    section('latents', 'SAE latents: class specificity and gate effect', await renderBlocks(latentBlocks(inp.run))),
    section('paper', 'Ours vs the paper', paperTable(inp)),
    section('models', 'Dense, pruned and random-policy models', `${modelsTable(inp)}\n${await renderBlocks(layerBlocks)}\n${perClassTable(inp)}`),
    section('compute', 'Compute per image (analytic FLOPs)', flopsTables(inp)),
    section('training', 'Training', `${await renderBlocks(trainBlocks)}\n${timingsTable(inp)}`),
    section('sae', 'Sparse autoencoder', saeTable(inp)),
    section('config', 'Run configuration', configBlock(inp)),
  ];
  const nav: Array<[string, string]> = [
    ['steering', 'Steering'],
    ['controls', 'Controls'],
    ...(layerSections.length === 0 ? [] : [['layers', 'Every layer'] as [string, string]]),
    ['overlap', 'Latent overlap'],
    ['latents', 'Latents'],
    ['paper', 'Ours vs paper'],
    ['models', 'Models'],
    ['compute', 'Compute'],
    ['training', 'Training'],
    ['sae', 'SAE'],
    ['config', 'Config'],
  ];
  const html = page('headsteer report', headerHtml(inp), nav, sections.join('\n'));
  const index = join(out, 'index.html');
  writeFileAtomic(index, html);
  return { index, figures };
}

/**
 * The controls section of a run with steering results: the plain statement first (what the margins
 * support), then the frontier figure, the margins table and the top-gain classes' own frontiers; a
 * notice instead for results written before the controls existed.
 */
function controlsBlocks(inp: RunInputs): Block[] {
  const r = inp.steer;
  const c = r?.controls;
  if (r === undefined || c === undefined) return [{ html: notice(CONTROLS_MISSING) }];
  if (c.threshold.length === 0) return [{ html: notice(`the results hold no threshold sweep (steer.betas), so there is no frontier; ${CONTROLS_MISSING}`) }];
  const shares = classShares(c);
  const sum = frontierSummary(r, c, shares);
  return [
    { html: paragraph(frontierStatement(sum), 'statement') },
    { figure: frontierFigure(r, c, sum, shares, flopsOfUsage(inp)) },
    { html: frontierTable(sum) },
    ...[classFrontierFigure(r, c)].map(
      (f): Block => (f === undefined ? { html: notice('steering results hold no top-gain classes, so there are no class frontiers') } : { figure: f }),
    ),
  ];
}

/** Skipping FLOPs per image at a final-layer usage, from the pruned model's eval.json (undefined before FLOPs were counted). */
function flopsOfUsage(inp: RunInputs): ((u: number) => number) | undefined {
  const e = inp.pruned.eval;
  const u0 = e?.headUsage.perLayer.at(-1);
  return e?.flops === undefined || u0 === undefined ? undefined : finalLayerFlops(e.flops, u0);
}

function classNamesOf(inp: RunInputs): string[] {
  return inp.pruned.eval?.classNames ?? inp.features?.classNames ?? inp.dense.eval?.classNames ?? [];
}

/** Run identity and one status line per stage (done, missing with the verb to run, incomplete, invalid). */
function headerHtml(inp: RunInputs): string {
  const cfg = inp.pruned.config ?? inp.dense.config;
  const what =
    cfg === undefined
      ? ''
      : `<p>Preset <code>${esc(cfg.run.preset)}</code> · data <b>${esc(cfg.data.name)}</b> (${cfg.data.classNames.length} classes) · ViT ${cfg.model.depth} layers × ${cfg.model.numHeads} heads, width ${cfg.model.embedDim}, patch ${cfg.model.patchSize}, image ${cfg.model.imgSize} px</p>`;
  // Fine-tuning is a stage only of runs that start from an imported model.
  const order = STAGE_ORDER.filter((s) => s !== 'report' && (s !== 'finetune' || denseStage(inp.run) === 'finetune'));
  const status = order.map((stage) => {
    const notes = inp.notes.filter((n) => n.stage === stage);
    const label = esc(STAGES[stage].label);
    if (notes.length === 0) return `<li><span class="ok">✔</span> ${label}: done</li>`;
    const worst = notes.find((n) => n.kind === 'invalid') ?? notes.find((n) => n.kind === 'missing') ?? notes[0]!;
    const mark = worst.kind === 'invalid' ? '<span class="bad">✘</span>' : '<span class="warn">●</span>';
    const text = esc(worst.message).replace(/`([^`]+)`/g, '<code>$1</code>');
    return `<li>${mark} ${worst.message.startsWith(STAGES[stage].label) ? text : `${label}: ${text}`}</li>`;
  });
  return `<p>Run folder <code>${esc(resolve(inp.run))}</code> · generated ${esc(new Date().toISOString().slice(0, 16).replace('T', ' '))} UTC</p>
${what}
<ul class="status">${status.join('\n')}</ul>`;
}
