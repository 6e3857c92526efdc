// The steerability study's table (scripts/steerability_study.sh): per variant, over its runs (seeds),
// per-class steering's change in final-layer usage and accuracy at alpha -1 and 1.5 (each against the
// run's alpha = 0), and the largest margin of any per-class point over the run's threshold frontier;
// each as the mean with the [min, max] over runs. Reads OUT/<variant>/compare/comparison.json.
// Usage: node scripts/steerability_summary.mjs OUT [STRATEGY]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, strategy = 'per-class'] = process.argv.slice(2);
if (out === undefined) {
  process.stderr.write('usage: node scripts/steerability_summary.mjs OUT [STRATEGY]\n');
  process.exit(2);
}

const band = (values, scale, digits) => {
  const v = values.filter((x) => x !== null && x !== undefined).map((x) => x * scale);
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const f = (x) => (x >= 0 ? '+' : '') + x.toFixed(digits);
  return `${f(mean)} [${f(Math.min(...v))}, ${f(Math.max(...v))}]`;
};

const rows = [];
for (const variant of readdirSync(out).sort()) {
  const file = join(out, variant, 'compare', 'comparison.json');
  if (!existsSync(file)) continue;
  const c = JSON.parse(readFileSync(file, 'utf8'));
  const at = (alpha) => c.curves.find((p) => p.strategy === strategy && Math.abs(p.alpha - alpha) < 1e-9);
  const cells = [-1, 1.5].flatMap((alpha) => {
    const p = at(alpha);
    return p === undefined ? ['n/a', 'n/a'] : [band(p.deltaHeadUsage, 1, 3), band(p.deltaAccuracy, 100, 2)];
  });
  const margin = c.controls.margins.find((m) => m.strategy === strategy && m.bar === 'threshold');
  const margins = margin === undefined ? [] : margin.perRun.map((m) => (m === null ? null : m.margin));
  rows.push(`| ${variant} | ${c.runs.length} | ${cells.join(' | ')} | ${band(margins, 100, 2)} |`);
}
process.stdout.write(
  [
    `${strategy} steering, mean [min, max] over runs; Δ against each run's α = 0 (the SAE reconstruction)`,
    '',
    '| variant | runs | Δ usage α = −1 | Δ acc (pt) α = −1 | Δ usage α = 1.5 | Δ acc (pt) α = 1.5 | best margin over threshold frontier (pt) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
