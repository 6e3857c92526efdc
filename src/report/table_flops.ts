/**
 * The report's compute tables (docs/design.md "Engine", compute saved): the pruned model's analytic FLOPs
 * per image from its eval.json (eval/flops.ts), by part and by layer, against the dense model, with the
 * masked path's cost beside them. A notice instead when the pruned model or its FLOPs are absent.
 */
import { notice, paragraph, table, type Cell } from './html.js';
import { notRunYet, type FlopsFile, type RunInputs } from './inputs.js';

const PARTS: ReadonlyArray<[keyof FlopsFile['parts']['dense'], string]> = [
  ['patchEmbed', 'patch embedding'],
  ['qkv', 'q, k, v projections'],
  ['attention', 'attention (q kᵀ, att v)'],
  ['proj', 'output projection'],
  ['mlp', 'MLP'],
  ['gate', 'decision networks (gates)'],
  ['head', 'classifier head'],
];

const mflops = (v: number): string => (v / 1e6).toFixed(3);
const share = (saved: number, of: number): string => (of > 0 ? `${((100 * saved) / of).toFixed(1)}%` : '—');

/** FLOPs per image of the pruned model: the statement, then the tables by part and by layer. */
export function flopsTables(inp: RunInputs): string {
  const e = inp.pruned.eval;
  if (e === undefined) return notice(notRunYet('prune'));
  const f = e.flops;
  if (f === undefined) return notice('pruned/eval.json predates FLOPs counting: rerun `headsteer eval --checkpoint <run>/pruned`');
  const statement =
    `Skipping the pruned heads costs ${mflops(f.pruned)} MFLOPs per test image against ${mflops(f.dense)} for the dense model: ` +
    `${(100 * f.savedFraction).toFixed(1)}% saved, the ceiling of the time a skipping forward can save. ` +
    `The masked path (every head computed, then multiplied by its mask) costs ${mflops(f.masked)} MFLOPs, more than the dense model. ` +
    'Matrix products only, 2 FLOPs per multiply-add.';
  const byPart: Cell[][] = PARTS.map(([k, name]) => [
    name,
    mflops(f.parts.dense[k]),
    mflops(f.parts.pruned[k]),
    share(f.parts.dense[k] - f.parts.pruned[k], f.dense),
  ]);
  byPart.push(['total', mflops(f.dense), mflops(f.pruned), share(f.dense - f.pruned, f.dense)]);
  const byLayer: Cell[][] = f.perLayer.map((l, i) => [
    `layer ${i}`,
    (e.headUsage.perLayer[i] ?? 1).toFixed(3),
    mflops(l.dense),
    mflops(l.pruned),
    share(l.dense - l.pruned, l.dense),
  ]);
  return [
    paragraph(statement),
    table(['part', 'dense MFLOPs', 'skipping MFLOPs', 'saved (of the dense total)'], byPart, 'FLOPs per image by part (mean over the test images)'),
    table(['layer', 'head usage', 'dense MFLOPs', 'skipping MFLOPs', 'saved (of the layer)'], byLayer, 'FLOPs per image by layer, gates included'),
  ].join('\n');
}
