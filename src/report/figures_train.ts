/**
 * Training figures (beyond the paper) as vega-lite specs, from `dense/` and `pruned/` metrics.jsonl and
 * eval.json:
 *   training curves  loss and train-batch accuracy vs step for pretrain then prune, test accuracy per
 *                    epoch, and head usage during pruning (train batches and per-epoch test set);
 *   per-layer usage  head usage per layer of the pruned ViT's learned gates vs the random policy.
 * Steps of the prune stage are drawn after the pretrain stage's last step, so both share one x axis.
 * Legend: L layers.
 */
import { z } from 'zod';
import type { FigureSpec } from './figures_steer.js';
import type { CheckpointConfig, EvalFile, ModelStage } from './inputs.js';
import type { TopLevelSpec } from './render.js';

const STAGE_DOMAIN = ['pretrain (dense)', 'prune (gated)'];
const USAGE_TRAIN = 'prune: train-batch usage';
const USAGE_TEST = 'prune: test-set usage';
const SERIES_COLORS = ['#6a51a3', '#d94801', '#fd8d3c', '#7f2704'];
const STEP_TITLE = 'Training step (pretrain, then prune)';

/** The prune stage's target head usage rho from its run config, if recorded. */
export function targetUsage(config: CheckpointConfig | undefined): number | undefined {
  const r = z.object({ rho: z.number() }).safeParse(config?.run['prune']);
  return r.success ? r.data.rho : undefined;
}

/**
 * Loss, train accuracy, test accuracy per epoch and head usage during pruning; undefined when neither
 * stage has logged anything.
 */
export function trainingFigure(dense: ModelStage, pruned: ModelStage): FigureSpec | undefined {
  if (dense.train.length + dense.epochs.length + pruned.train.length + pruned.epochs.length === 0) return undefined;
  const offset = Math.max(0, ...dense.train.map((t) => t.totalSteps), ...dense.epochs.map((e) => e.step));
  const stages = [
    { name: STAGE_DOMAIN[0]!, log: dense, shift: 0 },
    { name: STAGE_DOMAIN[1]!, log: pruned, shift: offset },
  ];
  const train = stages.flatMap((s) => s.log.train.map((t) => ({ stage: s.name, step: t.step + s.shift, loss: t.loss, accuracy: 100 * t.accuracy })));
  const epochs = stages.flatMap((s) =>
    s.log.epochs.map((e) => ({ stage: s.name, step: e.step + s.shift, epoch: e.epoch, testAccuracy: 100 * e.testAccuracy })),
  );
  const usage = [
    ...pruned.train.map((t) => ({ series: USAGE_TRAIN, step: t.step + offset, usage: t.headUsage })),
    ...pruned.epochs.map((e) => ({ series: USAGE_TEST, step: e.step + offset, usage: e.testHeadUsage })),
  ];
  const rho = targetUsage(pruned.config);
  // One colour scale (and one legend) for all panels: the two stages, then the two usage series.
  const all = [...STAGE_DOMAIN, USAGE_TRAIN, USAGE_TEST];
  const present = new Set<string>([...train, ...epochs].map((r) => r.stage).concat(usage.map((u) => u.series)));
  const series = all.filter((n) => present.has(n));
  const color = (field: string): object => ({
    field,
    type: 'nominal',
    title: 'Series',
    scale: { domain: series, range: series.map((n) => SERIES_COLORS[all.indexOf(n)]) },
  });
  const xAxis = { field: 'step', type: 'quantitative', title: STEP_TITLE, scale: { domainMin: 0, padding: 8 } };
  const size = { width: 330, height: 200 };
  const line = (field: string, title: string): object => ({
    ...size,
    data: { values: train },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: { x: xAxis, y: { field, type: 'quantitative', title, scale: { zero: false } }, color: color('stage') },
  });
  const panels: object[] = [
    { ...line('loss', 'Train loss (nats)'), title: { text: 'Training loss', frame: 'group' } },
    { ...line('accuracy', 'Train-batch accuracy (%)'), title: { text: 'Train-batch accuracy', frame: 'group' } },
    {
      ...size,
      title: { text: 'Test accuracy per epoch', frame: 'group' },
      data: { values: epochs },
      encoding: { x: xAxis, y: { field: 'testAccuracy', type: 'quantitative', title: 'Test accuracy (%)', scale: { zero: false, padding: 8 } } },
      layer: [
        { mark: { type: 'line', color: '#bbbbbb', strokeWidth: 1.5 } }, // both stages in order: the hand-over shows
        {
          mark: { type: 'point', filled: true, size: 60, opacity: 1 },
          encoding: { color: color('stage'), tooltip: [{ field: 'stage' }, { field: 'epoch' }, { field: 'testAccuracy', format: '.2f' }] },
        },
      ],
    },
  ];
  if (usage.length > 0) {
    const uStep = { ...xAxis, scale: { zero: false, padding: 8 } };
    const uAxis = { field: 'usage', type: 'quantitative', title: 'Head usage (fraction of heads kept)', scale: { domain: [0, 1] } };
    panels.push({
      ...size,
      title: { text: 'Head usage during pruning', frame: 'group' },
      data: { values: usage },
      layer: [
        {
          transform: [{ filter: { field: 'series', equal: USAGE_TRAIN } }],
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: { x: uStep, y: uAxis, color: color('series') },
        },
        {
          transform: [{ filter: { field: 'series', equal: USAGE_TEST } }],
          mark: { type: 'point', filled: true, size: 80, stroke: 'white', strokeWidth: 1, opacity: 1 },
          encoding: { x: uStep, y: uAxis, color: color('series') },
        },
        ...(rho === undefined
          ? []
          : [
              {
                data: { values: [{ rho, label: `target ρ = ${rho}` }] },
                encoding: { y: { field: 'rho', type: 'quantitative' } }, // no x: the rule spans the panel
                layer: [
                  { mark: { type: 'rule', strokeDash: [5, 4], color: '#444' } },
                  { mark: { type: 'text', align: 'left', baseline: 'top', x: 4, dy: 6, fontSize: 11, color: '#444' }, encoding: { text: { field: 'label' } } },
                ],
              },
            ]),
      ],
    });
  }
  const lastAcc = (m: ModelStage): string => {
    const e = m.epochs.at(-1);
    return e === undefined ? 'an unlogged value' : `${(100 * e.testAccuracy).toFixed(2)}% after epoch ${e.epoch}`;
  };
  const lastUsage = pruned.epochs.at(-1)?.testHeadUsage;
  return {
    name: 'training-curves',
    title: 'Training curves — dense pretraining, then joint ViT + gate fine-tuning (pruning)',
    caption:
      pruned.epochs.length === 0
        ? `Test accuracy of the dense ViT reaches ${lastAcc(dense)}; pruning has not logged an epoch yet.`
        : `Test accuracy reaches ${lastAcc(dense)} for the dense ViT and ${lastAcc(pruned)} for the pruned one${lastUsage === undefined ? '' : `, whose test-set head usage ends at ${lastUsage.toFixed(3)}`}${rho === undefined ? '' : ` against the target ρ = ${rho}`}.`,
    spec: {
      title: {
        text: 'Training curves: pretrain then prune',
        subtitle: 'train metrics every 10 steps on the current batch; test metrics at the end of each epoch',
      },
      columns: 2,
      concat: panels,
      resolve: { scale: { color: 'shared' } },
    } as TopLevelSpec,
  };
}

/** Per-layer head usage (layer on x) of the pruned ViT's learned gates next to the random policy's. */
export function perLayerUsageFigure(evalFile: EvalFile, config: CheckpointConfig | undefined): FigureSpec {
  const rp = evalFile.randomPolicy;
  const learned = `learned gates: ${(100 * evalFile.accuracy).toFixed(2)}% accuracy`;
  const random = `random policy, same rates: ${rp === undefined ? '—' : (100 * rp.accuracy).toFixed(2)}% accuracy`;
  const values = [
    ...evalFile.headUsage.perLayer.map((u, l) => ({ layer: `layer ${l}`, policy: learned, usage: u })),
    ...(evalFile.randomPolicy?.headUsage.perLayer ?? []).map((u, l) => ({ layer: `layer ${l}`, policy: random, usage: u })),
  ];
  const rho = targetUsage(config);
  const layers = evalFile.headUsage.perLayer.length;
  return {
    name: 'per-layer-usage',
    title: 'Per-layer head usage of the pruned ViT vs the random policy',
    caption: `The learned gates keep ${evalFile.headUsage.overall.toFixed(3)} of all heads at ${(100 * evalFile.accuracy).toFixed(2)}% accuracy${rp === undefined ? '' : `, while a random policy with the same per-layer rates (${rp.headUsage.overall.toFixed(3)}) reaches ${(100 * rp.accuracy).toFixed(2)}%`}.`,
    spec: {
      title: {
        text: 'Per-layer head usage on the test set',
        subtitle: rho === undefined ? 'fraction of heads kept per layer' : `fraction of heads kept per layer; dashed: target ρ = ${rho}`,
      },
      width: Math.max(260, 70 * layers),
      height: 240,
      layer: [
        {
          data: { values },
          mark: { type: 'bar' },
          encoding: {
            x: { field: 'layer', type: 'nominal', sort: null, title: 'Layer (input side → output side)', axis: { labelAngle: 0 } },
            xOffset: { field: 'policy', sort: [learned, random] },
            y: { field: 'usage', type: 'quantitative', title: 'Head usage (fraction of heads kept)', scale: { domain: [0, 1] } },
            color: { field: 'policy', type: 'nominal', title: 'Policy', sort: [learned, random], scale: { range: ['#d94801', '#9e9e9e'] } },
            tooltip: [{ field: 'layer' }, { field: 'policy' }, { field: 'usage', format: '.3f' }],
          },
        },
        ...(rho === undefined
          ? []
          : [
              {
                data: { values: [{ rho }] },
                mark: { type: 'rule', strokeDash: [5, 4], color: '#333' },
                encoding: { y: { field: 'rho', type: 'quantitative' } },
              },
            ]),
      ],
    } as TopLevelSpec,
  };
}
