/**
 * The explorer's single page: markup and stylesheet as strings, with the script (client.ts) inlined
 * from its compiled source and called with the constants it shares with the server's modules, so the
 * server ships one self-contained document and needs no static files.
 */
import { CONTROLS_MISSING, MARGIN_TOLERANCE } from '../report/controls.js';
import { strategyColorScale } from '../report/render.js';
import { PAPER_ALPHA, STRATEGIES, type Strategy } from '../steer/strategies.js';
import { explorerClient, type ClientConstants } from './client.js';
import { TARGET_BUDGET_MS } from './data.js';

const STRATEGY_HELP: Record<Strategy, string> = {
  'per-class': 'S = the most frequent latents of the image’s true class (paper)',
  global: 'S = the most frequent latents over all classes',
  random: 'S = latents drawn with a fixed seed',
  'predicted-class': 'S = per-class set of the unsteered prediction (no label needed)',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --card:#fff; --bg:#f1f5f9; --teal:#0f766e; --acc:#2563eb; --use:#ea580c; --good:#15803d; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { padding:14px 24px; background:#0f172a; color:#e2e8f0; display:flex; align-items:baseline; gap:16px; flex-wrap:wrap; }
header h1 { margin:0; font-size:18px; font-weight:650; color:#fff; letter-spacing:.2px; }
header h1 span { color:#5eead4; }
header .run { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; color:#94a3b8; }
header .facts { font-size:12.5px; color:#cbd5e1; margin-left:auto; }
main { display:grid; grid-template-columns: minmax(330px, 380px) 1fr; gap:16px; padding:16px 24px 28px; max-width:1320px; margin:0 auto; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 16px; box-shadow:0 1px 2px rgba(15,23,42,.04); }
.card h2 { margin:0 0 10px; font-size:12px; text-transform:uppercase; letter-spacing:.08em; color:var(--muted); font-weight:650; display:flex; align-items:center; gap:8px; }
.card h2 .sub { text-transform:none; letter-spacing:0; font-weight:500; margin-left:auto; color:var(--muted); font-size:12px; }
.wide { grid-column: 1 / -1; }
.split { display:grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.05fr); gap:18px; margin-top:14px; }
.split h2 { margin-top:0; }
label.field { display:block; font-weight:600; margin:4px 0 6px; }
select, input[type=number] { font:inherit; padding:6px 8px; border:1px solid #cbd5e1; border-radius:8px; background:#fff; color:var(--ink); }
select { width:100%; }
.seg { display:grid; grid-template-columns: 1fr 1fr; gap:6px; margin-bottom:12px; }
.seg label { border:1px solid #cbd5e1; border-radius:8px; padding:6px 8px; cursor:pointer; display:block; }
.seg label b { display:block; font-size:13px; }
.seg label small { color:var(--muted); font-size:11px; line-height:1.25; display:block; }
.seg input { position:absolute; opacity:0; pointer-events:none; }
.seg label:has(input:checked) { border-color:var(--teal); background:#f0fdfa; box-shadow: inset 0 0 0 1px var(--teal); }
.alpha-row { display:flex; align-items:center; gap:10px; }
.alpha-row input[type=range] { flex:1; accent-color:var(--teal); }
.alpha-row input[type=number] { width:82px; }
input.invalid { border-color:var(--bad); background:#fef2f2; }
#alpha-label { font-variant-numeric: tabular-nums; font-weight:700; color:var(--teal); }
#grid-chips { display:flex; flex-wrap:wrap; gap:4px; margin:8px 0 4px; }
.chip-btn { font:11px ui-monospace, Menlo, monospace; border:1px solid #cbd5e1; background:#f8fafc; border-radius:999px; padding:2px 7px; cursor:pointer; color:#334155; }
.chip-btn.active { background:var(--teal); color:#fff; border-color:var(--teal); }
.hint { color:var(--muted); font-size:12px; margin:4px 0 0; }
.badge { display:inline-block; font-size:11px; padding:2px 8px; border-radius:999px; font-weight:600; }
.badge.results { background:#e0f2fe; color:#075985; }
.badge.live { background:#fef3c7; color:#92400e; }
.metrics { display:grid; grid-template-columns:1fr 1fr; gap:12px; }
.metric { border:1px solid var(--line); border-radius:10px; padding:10px 12px; }
.metric .k { color:var(--muted); font-size:12px; font-weight:600; }
.metric .v { font-size:30px; font-weight:700; font-variant-numeric: tabular-nums; line-height:1.1; }
.metric.acc .v { color:var(--acc); } .metric.use .v { color:var(--use); }
.metric .cmp { font-size:12.5px; color:var(--muted); font-variant-numeric: tabular-nums; }
.delta { font-weight:700; color:#475569; } .delta.good { color:var(--good); } .delta.bad { color:var(--bad); }
#heads-kept { font-size:12.5px; color:var(--muted); margin-top:10px; }
#heads-switched { font-size:12.5px; color:var(--muted); margin-top:4px; } #heads-switched.hot { color:#b45309; font-weight:600; }
#heads { display:flex; gap:8px; justify-content:flex-start; flex-wrap:wrap; }
.head { width:58px; text-align:center; padding:6px 4px; border-radius:10px; border:1px solid var(--line); transition:background .2s; }
.head.switched { border-color:#f59e0b; background:#fffbeb; }
.head .rate { font-weight:700; font-variant-numeric: tabular-nums; font-size:13px; }
.head .bar { position:relative; height:124px; width:28px; margin:4px auto; background:#f1f5f9; border-radius:6px; overflow:hidden; border:1px solid #e2e8f0; }
.head .fill { position:absolute; left:0; right:0; bottom:0; transition:height .25s, background .25s; }
.head .ghost { position:absolute; left:-2px; right:-2px; height:0; border-top:2px dashed #0f172a; opacity:.55; }
.head .name { font:600 12px ui-monospace, Menlo, monospace; }
.head .chip { display:inline-block; margin-top:3px; font-size:10px; font-weight:700; padding:1px 6px; border-radius:999px; }
.head .chip.on { background:var(--teal); color:#fff; } .head .chip.off { background:#e2e8f0; color:#475569; }
.head .hdelta { font-size:11px; color:var(--muted); font-variant-numeric: tabular-nums; }
.head .hdelta.up { color:#b45309; } .head .hdelta.down { color:var(--good); }
.legend { font-size:12px; color:var(--muted); display:flex; gap:14px; flex-wrap:wrap; margin-top:8px; }
.legend i { display:inline-block; width:14px; height:0; border-top:3px solid; vertical-align:middle; margin-right:4px; }
.legend i.dash { border-top:2px dashed #0f172a; opacity:.55; }
.legend i.acc { border-color:var(--acc); } .legend i.use { border-color:var(--use); } .legend i.now { border-color:var(--teal); border-top-width:2px; }
label.field.spaced { margin-top:12px; }
#curve { width:100%; height:auto; display:block; margin-top:2px; }
#curve path { fill:none; stroke-width:2; } #curve path.acc { stroke:var(--acc); } #curve path.use { stroke:var(--use); }
#curve circle.acc { fill:var(--acc); } #curve circle.use { fill:var(--use); }
#curve circle.cur { stroke:#fff; stroke-width:2; }
#curve .grid { stroke:#eef2f7; } #curve .zero { stroke:#cbd5e1; stroke-dasharray:2 3; }
#curve .base { stroke-width:1.3; stroke-dasharray:5 4; } #curve .base.acc { stroke:var(--acc); opacity:.5; } #curve .base.use { stroke:var(--use); opacity:.5; }
#curve .now { stroke:var(--teal); stroke-width:1.5; }
#curve .tick { font-size:10.5px; fill:#94a3b8; }
#samples { display:grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap:10px; }
@media (max-width: 1100px) { #samples { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
@media (max-width: 800px) { main { grid-template-columns: 1fr; } #samples { grid-template-columns: repeat(2, minmax(0, 1fr)); } .split { grid-template-columns: 1fr; } }
.sample { margin:0; display:flex; gap:10px; align-items:center; border:1px solid var(--line); border-left:4px solid var(--good); border-radius:10px; padding:8px; position:relative; background:#fff; }
.sample.wrong { border-left-color:var(--bad); background:#fffafa; }
.sample.changed { box-shadow: inset 0 0 0 1px #f59e0b; }
.sample .thumb { width:68px; height:68px; image-rendering:pixelated; border-radius:6px; background:#000; flex:none; }
.sample figcaption { font-size:12px; min-width:0; flex:1; }
.sample .truth { font-weight:650; margin-bottom:2px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.pred { display:flex; align-items:center; gap:4px; white-space:nowrap; }
.pred .k { color:var(--muted); width:40px; flex:none; }
.pred .v { overflow:hidden; text-overflow:ellipsis; }
.pred .mark { font-weight:800; } .pred.ok .mark { color:var(--good); } .pred.ko .mark { color:var(--bad); } .pred.ko .v { color:var(--bad); }
.dots { display:inline-flex; gap:2px; margin-left:auto; padding-left:4px; }
.dots i { width:6px; height:6px; border-radius:2px; background:#e2e8f0; display:inline-block; }
.dots i.kept { background:var(--teal); }
.flag { position:absolute; top:4px; right:6px; font-size:9.5px; font-weight:700; color:#b45309; text-transform:uppercase; letter-spacing:.05em; }
#frontier { width:100%; height:auto; display:block; }
#frontier .grid { stroke:#eef2f7; } #frontier .tick { font-size:10.5px; fill:#94a3b8; } #frontier .axis { font-size:11px; fill:#64748b; }
#frontier .reach { fill:#f1f5f9; } #frontier .reach-label { font-size:10px; fill:#94a3b8; }
#frontier .sweep { fill:none; stroke:#9a9a9a; stroke-width:1.2; } #frontier .thr { fill:#9a9a9a; }
#frontier .bar { fill:none; stroke:#222; stroke-width:2; stroke-dasharray:7 4; }
#frontier .steer { fill:none; stroke-width:1.5; opacity:.5; } #frontier .steer.sel { stroke-width:2.6; opacity:1; }
#frontier .dot { opacity:.55; } #frontier .dot.sel { opacity:1; }
#frontier .rp { fill:none; stroke-width:1.6; }
#frontier .ulim { stroke:#7b3fa0; stroke-width:1.3; stroke-dasharray:4 3; } #frontier .ulim-label { font-size:10.5px; fill:#7b3fa0; font-weight:600; }
#frontier .hit { stroke:#fff; stroke-width:1.2; }
#frontier .cur { fill:none; stroke:var(--teal); stroke-width:3; } #frontier .cur-label { font-size:11px; font-weight:700; fill:var(--teal); }
.legend .sq { display:inline-block; width:8px; height:8px; background:#9a9a9a; vertical-align:middle; margin-right:4px; }
.legend .ring { display:inline-block; width:11px; height:11px; border:3px solid var(--teal); border-radius:50%; vertical-align:middle; margin-right:4px; }
.legend .cross { font-weight:700; margin-right:3px; } .legend .dia { color:#334155; margin-right:3px; }
label.check[hidden] { display:none; }
label.check { display:flex; align-items:center; gap:6px; font-size:12.5px; color:#334155; margin-top:6px; cursor:pointer; }
#frontier-note { color:var(--ink); font-size:12.5px; } #frontier-note.missing { color:var(--bad); font-weight:600; }
#target-form .alpha-row input[type=number] { width:96px; }
button.go { font:inherit; font-weight:600; padding:6px 12px; border-radius:8px; border:1px solid var(--teal); background:var(--teal); color:#fff; cursor:pointer; }
button.go:disabled { opacity:.6; cursor:progress; }
#target-table { width:100%; border-collapse:collapse; font-size:12.5px; margin-top:8px; font-variant-numeric: tabular-nums; }
#target-table caption { text-align:left; font-size:12px; color:var(--muted); }
#target-table th { text-align:left; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:4px 6px; }
#target-table td { border-bottom:1px solid var(--line); padding:5px 6px; vertical-align:top; white-space:nowrap; } #target-table td:last-child { white-space:normal; }
#target-table tr.jump { cursor:pointer; } #target-table tr.jump:hover, #target-table tr.jump:focus { background:#f0fdfa; outline:none; }
#target-table tr.miss td { color:var(--muted); } #target-table .note { display:block; font-size:11px; color:var(--muted); max-width:420px; }
#target-table .sw { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; vertical-align:middle; }
#target-status.warn { color:#b45309; font-weight:600; }
#error { grid-column: 1 / -1; background:#fef2f2; color:var(--bad); border:1px solid #fecaca; border-radius:10px; padding:8px 12px; }
body.loading main { cursor:progress; } body.loading #samples, body.loading #heads { opacity:.6; }
`;

const colors = strategyColorScale();

/** The client's argument, written into the page as JSON (with `<` escaped, so no string can close the script). */
const CLIENT_CONSTANTS: ClientConstants = {
  paperAlpha: PAPER_ALPHA,
  firstStrategy: STRATEGIES[0],
  strategyColors: Object.fromEntries(colors.domain.map((s, i) => [s, colors.range[i] ?? '#000000'])),
  controlsMissing: CONTROLS_MISSING,
  marginTolerance: MARGIN_TOLERANCE,
};

/** The complete HTML document for a run. */
export function explorerPage(run: string): string {
  const strategies = STRATEGIES.map(
    (s, i) =>
      `<label><input type="radio" name="strategy" value="${s}"${i === 0 ? ' checked' : ''}><b>${s}</b><small>${escapeHtml(STRATEGY_HELP[s])}</small></label>`,
  ).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>headsteer explorer · ${escapeHtml(run)}</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body>
<header><h1>head<span>steer</span> explorer</h1><span class="run" id="run"></span><span class="facts" id="facts"></span></header>
<main>
  <div id="error" hidden></div>
  <section class="card" id="controls">
    <h2>Steering</h2>
    <label class="field" for="class">Class</label>
    <select id="class"></select>
    <a class="hint" id="class-latents" href="/latents">all SAE latents →</a>
    <label class="field spaced">Strategy</label>
    <div class="seg" id="strategy">${strategies}</div>
    <label class="field" for="alpha-input">Alpha <span id="alpha-label"></span></label>
    <div class="alpha-row"><input type="range" id="alpha-range" list="alpha-grid" aria-label="alpha"><input type="number" id="alpha-input" aria-label="alpha value"></div>
    <datalist id="alpha-grid"></datalist>
    <div id="grid-chips" title="alphas precomputed in steer/results.json"></div>
    <p class="hint">Eq. 5: pre-activations of the latents in S are scaled by (1 + alpha), then TopK is re-applied. Grid points come from results.json; other values run the fast steering path over the whole test set.</p>
  </section>
  <section class="card" id="summary">
    <h2>At this point <span class="sub"><span id="source" class="badge"></span></span></h2>
    <div class="metrics">
      <div class="metric acc"><div class="k">Accuracy</div><div class="v" id="acc">–</div><div class="cmp">unsteered <span id="acc-base">–</span> · <span id="acc-delta" class="delta"></span></div></div>
      <div class="metric use"><div class="k">Final-layer head usage</div><div class="v" id="usage">–</div><div class="cmp">unsteered <span id="usage-base">–</span> · <span id="usage-delta" class="delta"></span></div></div>
      <div class="metric flops" title="analytic, skipping the pruned heads; from pruned/eval.json"><div class="k">MFLOPs per image</div><div class="v" id="flops">–</div><div class="cmp">unsteered <span id="flops-base">–</span> · <span id="flops-delta" class="delta"></span></div></div>
    </div>
    <div class="split">
      <div>
        <h2>Final-layer heads <span class="sub">keep rate; dashed = unsteered</span></h2>
        <div id="heads"></div>
        <div id="heads-kept"></div>
        <div id="heads-switched"></div>
      </div>
      <div id="curves">
        <h2>Sweep over alpha <span class="sub" id="curve-title"></span></h2>
        <svg id="curve" viewBox="0 0 440 230" role="img" aria-label="accuracy and head usage against alpha"></svg>
        <div class="legend"><span><i class="acc"></i>accuracy</span><span><i class="use"></i>head usage</span><span><i class="dash"></i>unsteered</span><span><i class="now"></i>current alpha</span></div>
      </div>
    </div>
  </section>
  <section class="card wide" id="frontier-card">
    <h2>Accuracy vs final-layer head usage <span class="sub" id="frontier-title"></span></h2>
    <div class="split">
      <div>
        <svg id="frontier" viewBox="0 0 560 330" role="img" aria-label="accuracy against final-layer head usage: the steering sweeps, the threshold shift and its frontier, the random policy and the current point"></svg>
        <div class="legend" id="frontier-legend"></div>
        <label class="check" id="frontier-zoom-label"><input type="checkbox" id="frontier-zoom" checked>zoom on the steering points (the β sweep spans usage 0–1)</label>
        <p class="hint" id="frontier-note"></p>
        <p class="hint" id="frontier-statement"></p>
      </div>
      <div id="target">
        <h2>Steer to a head budget</h2>
        <form id="target-form">
          <label class="field" for="target-usage">Target final-layer head usage U</label>
          <div class="alpha-row"><input type="number" id="target-usage" min="0" max="1" step="0.01" aria-label="target usage"><button type="submit" class="go" id="target-go">Find α and β</button></div>
          <label class="check"><input type="checkbox" id="target-class">match the selected class’s usage (its test images only)</label>
        </form>
        <p class="hint" id="target-status">Each strategy’s α and the threshold’s β at which the final layer keeps this fraction of heads, found by bisection on the fast path, and the accuracy there: compute budget in, accuracy out.</p>
        <table id="target-table" hidden><caption id="target-scope"></caption><thead><tr><th>knob</th><th>α / β</th><th>usage</th><th>accuracy</th><th>status</th></tr></thead><tbody></tbody></table>
        <p class="hint">Click a strategy’s row to set the page to that strategy, α and class. Each search step is one pass over the test set; a request searches for ${TARGET_BUDGET_MS / 1000} s at most and the page asks again for the rest.</p>
      </div>
    </div>
  </section>
  <section class="card wide" id="samples-card">
    <h2>Sample test images <span class="sub" id="samples-note"></span></h2>
    <div id="samples"></div>
    <p class="hint">Prediction before and after steering; squares show the final-layer heads kept for that image (h0 first).</p>
  </section>
</main>
<script type="module">(${explorerClient.toString()})(${JSON.stringify(CLIENT_CONSTANTS).replaceAll('<', '\\u003c')});</script>
</body></html>
`;
}
