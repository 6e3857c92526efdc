/**
 * The explorer's latent view page (`GET /latents`): markup and stylesheet as strings with the script
 * (latents_client.ts) inlined from its compiled source, as page.ts does for the steering view.
 */
import { ALPHA_RANGE } from './data.js';
import { latentsClient, type LatentsClientConstants } from './latents_client.js';

const CSS = `
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f1f5f9; --teal:#0f766e; --acc:#2563eb; --use:#ea580c; --good:#15803d; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { padding:14px 24px; background:#0f172a; color:#e2e8f0; display:flex; align-items:baseline; gap:16px; flex-wrap:wrap; }
header h1 { margin:0; font-size:18px; font-weight:650; color:#fff; } header h1 span { color:#5eead4; }
header a { color:#5eead4; font-size:13px; } header .run { font:12px ui-monospace, Menlo, monospace; color:#94a3b8; }
main { display:grid; grid-template-columns: minmax(360px, 440px) 1fr; gap:16px; padding:16px 24px 28px; max-width:1400px; margin:0 auto; }
.card { background:#fff; border:1px solid var(--line); border-radius:12px; padding:14px 16px; }
.card h2 { margin:0 0 10px; font-size:12px; text-transform:uppercase; letter-spacing:.08em; color:var(--muted); font-weight:650; }
.card h2.spaced { margin-top:12px; }
.row { display:flex; gap:8px; align-items:center; flex-wrap:wrap; margin-bottom:8px; }
input, select, button { font:inherit; padding:5px 8px; border:1px solid #cbd5e1; border-radius:8px; background:#fff; color:var(--ink); }
#latent-search { flex:1; min-width:140px; }
button.go { background:var(--teal); border-color:var(--teal); color:#fff; font-weight:600; cursor:pointer; }
#set-filter { font-size:12.5px; color:#334155; } #set-filter button { padding:1px 6px; font-size:11px; margin-left:4px; }
#latent-count { font-size:12px; color:var(--muted); }
.tablewrap { max-height:70vh; overflow:auto; border:1px solid var(--line); border-radius:8px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; font-variant-numeric: tabular-nums; }
th { position:sticky; top:0; background:#f8fafc; text-align:left; color:var(--muted); font-weight:600; padding:5px 6px; border-bottom:1px solid var(--line); }
td { padding:4px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
#latent-table tbody tr { cursor:pointer; } #latent-table tbody tr:hover { background:#f0fdfa; } #latent-table tr.sel { background:#ccfbf1; }
.tag { display:inline-block; font-size:10.5px; padding:0 5px; border-radius:999px; background:#e0f2fe; color:#075985; margin-right:3px; }
#dash-empty { color:var(--muted); }
.facts { display:grid; grid-template-columns: repeat(4, minmax(0,1fr)); gap:8px; margin-bottom:12px; }
.fact { border:1px solid var(--line); border-radius:10px; padding:6px 10px; } .fact .k { font-size:11.5px; color:var(--muted); } .fact .v { font-size:20px; font-weight:700; font-variant-numeric: tabular-nums; }
.bars .bar { display:grid; grid-template-columns: 120px 1fr 52px; gap:6px; align-items:center; font-size:12px; margin:2px 0; }
.bars .track { background:#f1f5f9; border-radius:4px; height:12px; position:relative; overflow:hidden; }
.bars .fill { position:absolute; left:0; top:0; bottom:0; background:var(--teal); } .bars .bar.top .fill { background:#b45309; }
.thumbs { display:flex; flex-wrap:wrap; gap:6px; margin:6px 0 12px; }
.thumbs figure { margin:0; text-align:center; font-size:10.5px; color:var(--muted); width:64px; }
.thumbs img { width:56px; height:56px; image-rendering:pixelated; border-radius:4px; background:#000; display:block; margin:0 auto 2px; }
.split { display:grid; grid-template-columns: 1fr 1fr; gap:16px; }
.pos { color:#b45309; } .neg { color:var(--good); }
#steer-result .wrong { color:var(--bad); }
.dots { display:inline-flex; gap:2px; } .dots i { width:6px; height:6px; border-radius:2px; background:#e2e8f0; display:inline-block; } .dots i.kept { background:var(--teal); }
#error { grid-column: 1 / -1; background:#fef2f2; color:var(--bad); border:1px solid #fecaca; border-radius:10px; padding:8px 12px; }
.hint { color:var(--muted); font-size:12px; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } .split { grid-template-columns: 1fr; } }
`;

const CONSTANTS: LatentsClientConstants = { alphaRange: ALPHA_RANGE, defaultAlpha: 1 };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The latent view's HTML document for a run. */
export function latentsPage(run: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>headsteer latents · ${escapeHtml(run)}</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body>
<header><h1>head<span>steer</span> latents</h1><span class="run">${escapeHtml(run)}</span><a href="/" id="to-steering">← class steering view</a></header>
<main>
  <div id="error" hidden></div>
  <section class="card" id="list-card">
    <h2>SAE latents</h2>
    <div class="row"><input type="search" id="latent-search" placeholder="latent #, class name, 'global' or 'random'" aria-label="search latents">
      <select id="latent-sort" aria-label="sort by"><option value="effect">gate effect</option><option value="specificity">specificity</option><option value="density">density</option><option value="index">index</option></select></div>
    <div class="row"><span id="set-filter" hidden></span><span id="latent-count"></span></div>
    <div class="tablewrap"><table id="latent-table"><thead><tr><th>#</th><th>top class</th><th>density</th><th>specificity</th><th>gate effect</th><th>Δ usage</th><th>sets</th></tr></thead><tbody></tbody></table></div>
    <p class="hint">Gate effect: ‖mean change of the final gate’s head logits‖ when this latent alone is amplified (Eq. 5, S = {i}, α = 1), over the test images where it fires. Specificity: the top class’s share of the summed per-class firing rates.</p>
  </section>
  <section class="card" id="dash">
    <h2 id="dash-title">Dashboard</h2>
    <p id="dash-empty">Pick a latent in the table.</p>
    <div id="dash-body" hidden>
      <div class="facts">
        <div class="fact"><div class="k">density</div><div class="v" id="d-density"></div></div>
        <div class="fact"><div class="k">mean / max activation</div><div class="v" id="d-act"></div></div>
        <div class="fact"><div class="k">specificity</div><div class="v" id="d-spec"></div></div>
        <div class="fact"><div class="k">gate effect (α = 1)</div><div class="v" id="d-effect"></div></div>
      </div>
      <div class="split">
        <div><h2>Firing rate per class</h2><div class="bars" id="d-classes"></div><p class="hint" id="d-sets"></p></div>
        <div><h2>Final-layer heads</h2><table id="d-heads"><thead><tr><th>head</th><th>Δ logit</th><th>Δ keep</th><th>linearised / unit</th></tr></thead><tbody></tbody></table>
          <p class="hint">Δ logit and Δ keep: mean over its images of the steered minus the α = 0 (x̂) gate. Linearised: fc weights × LayerNorm Jacobian at x̂ × decoder row.</p></div>
      </div>
      <h2>Top activating test images</h2><div class="thumbs" id="d-top"></div>
      <h2>Random images where it fires</h2><div class="thumbs" id="d-random"></div>
      <h2>Steer this latent alone</h2>
      <form class="row" id="steer-form"><label for="steer-alpha">α</label><input type="number" id="steer-alpha" step="0.05" min="${ALPHA_RANGE.min}" max="${ALPHA_RANGE.max}" value="1"><button type="submit" class="go" id="steer-go">Steer</button><span class="hint">Eq. 5 with S = {i} on every test image, through the fast path</span></form>
      <div id="steer-result" hidden>
        <table id="steer-table"><thead><tr><th>images</th><th>accuracy</th><th>head usage</th><th>keep rate per head (α = 0 → α)</th></tr></thead><tbody></tbody></table>
        <h2 class="spaced">Its top images before and after</h2>
        <div class="thumbs" id="steer-samples"></div>
      </div>
    </div>
  </section>
</main>
<script type="module">(${latentsClient.toString()})(${JSON.stringify(CONSTANTS).replaceAll('<', '\\u003c')});</script>
</body></html>
`;
}
