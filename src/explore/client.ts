/**
 * The explorer page's script. `explorerClient` runs in the browser: page.ts embeds its source text
 * (`explorerClient.toString()`), so it must stay self-contained — no imports or module-level names
 * inside, only the type-only imports below, which compile away. Constants it shares with the server's
 * modules come in as its argument (`ClientConstants`), which page.ts writes into the page as JSON.
 * Type-checked with the DOM lib.
 *
 * Flow: fetch /api/meta once, then on every control change fetch /api/point and /api/images for
 * (strategy, alpha, class) and render the metrics, the final-layer head row (H), the accuracy/usage
 * curves over the alpha grid, the accuracy-usage frontier view and the sample images.
 * `body[data-ready]` names the point last rendered. The target form fetches /api/target, asks again
 * while knobs are pending (the server searches for a bounded time per request), renders the table and
 * marks the found points in the frontier view; `body[data-target]` names the target last completed.
 */
import type { CurvePoint, Meta, PointView, SampleView, Summary, TargetView, ThresholdCurve } from './data.js';

/** What the client shares with the server's modules; page.ts passes it, since the client can import nothing. */
export interface ClientConstants {
  /** The alpha the page opens at when the grid has it: the paper's (steer/strategies.ts PAPER_ALPHA). */
  paperAlpha: number;
  /** The strategy page.ts checks first, read when no strategy is checked. */
  firstStrategy: string;
  /** Each strategy's colour, as the report draws it (report/render.ts). */
  strategyColors: Record<string, string>;
  /** What the frontier view says when results.json has no controls (report/controls.ts CONTROLS_MISSING). */
  controlsMissing: string;
  /** Margins within this are on the frontier (report/controls.ts MARGIN_TOLERANCE). */
  marginTolerance: number;
}

export function explorerClient(shared: ClientConstants): void {
  const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
    const e = document.getElementById(id);
    if (e === null) throw new Error(`missing #${id}`);
    return e as T;
  };
  const make = <K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] => {
    const e = document.createElement(tag);
    if (cls !== '') e.className = cls;
    if (text !== '') e.textContent = text;
    return e;
  };
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const signed = (x: number, digits: number, unit = ''): string => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(digits)}${unit}`;
  /** Keep rate 0 -> pale slate, 1 -> deep teal. */
  const heat = (r: number): string => {
    const a = [226, 232, 240];
    const b = [15, 118, 110];
    const c = a.map((v, i) => Math.round(v + (b[i]! - v) * Math.min(1, Math.max(0, r))));
    return `rgb(${c.join(',')})`;
  };
  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(path);
    const body = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
    return body;
  };

  let meta: Meta;
  let seq = 0;
  let timer: number | undefined;
  /** The point last rendered and the target last answered, which the frontier view draws together. */
  let shown: PointView | undefined;
  let target: TargetView | undefined;
  let targetSeq = 0;
  const classSel = el<HTMLSelectElement>('class');
  const range = el<HTMLInputElement>('alpha-range');
  const num = el<HTMLInputElement>('alpha-input');
  const zoom = el<HTMLInputElement>('frontier-zoom');
  const targetInput = el<HTMLInputElement>('target-usage');
  const targetClass = el<HTMLInputElement>('target-class');
  const targetGo = el<HTMLButtonElement>('target-go');
  const color = (knob: string): string => shared.strategyColors[knob] ?? '#222222';
  const fmtParam = (x: number): string => String(Number(x.toFixed(4))).replace('-', '−');
  const scopeName = (c: PointView['class']): string => (c === 'all' ? 'all classes' : `class ${c} · ${meta.classNames[c] ?? ''}`);

  const strategy = (): string => document.querySelector<HTMLInputElement>('input[name=strategy]:checked')?.value ?? shared.firstStrategy;
  const alphaOk = (a: number): boolean => Number.isFinite(a) && a >= meta.alphaRange.min && a <= meta.alphaRange.max;

  const showError = (msg: string): void => {
    const box = el('error');
    box.textContent = msg;
    box.hidden = msg === '';
  };

  const renderMetrics = (p: PointView): void => {
    el('acc').textContent = pct(p.steered.accuracy);
    el('acc-base').textContent = pct(p.unsteered.accuracy);
    const dAcc = 100 * (p.steered.accuracy - p.unsteered.accuracy);
    const accDelta = el('acc-delta');
    accDelta.textContent = `${signed(dAcc, 1)} pp`;
    accDelta.className = `delta ${dAcc > 0.05 ? 'good' : dAcc < -0.05 ? 'bad' : ''}`;
    el('usage').textContent = p.steered.headUsage.toFixed(3);
    el('usage-base').textContent = p.unsteered.headUsage.toFixed(3);
    const dUse = p.steered.headUsage - p.unsteered.headUsage;
    const useDelta = el('usage-delta');
    useDelta.textContent = signed(dUse, 3);
    useDelta.className = `delta ${dUse < -0.0005 ? 'good' : dUse > 0.0005 ? 'bad' : ''}`;
    const mf = (v: number): string => (v / 1e6).toFixed(3);
    el('flops').textContent = p.flops === null ? 'not counted' : mf(p.flops.steered);
    el('flops-base').textContent = p.flops === null ? 'rerun headsteer eval on pruned/' : mf(p.flops.unsteered);
    const dFlops = p.flops === null ? 0 : p.flops.steered - p.flops.unsteered;
    const flopsDelta = el('flops-delta');
    flopsDelta.textContent = p.flops === null ? '' : signed(dFlops / 1e6, 3);
    flopsDelta.className = `delta ${dFlops < -500 ? 'good' : dFlops > 500 ? 'bad' : ''}`;
    const H = meta.heads;
    el('heads-kept').textContent =
      `${(p.steered.headUsage * H).toFixed(2)} of ${H} heads kept on average (unsteered ${(p.unsteered.headUsage * H).toFixed(2)})`;
    const src = el('source');
    src.textContent = p.source === 'results' ? 'precomputed · results.json' : 'computed live · fast path';
    src.className = `badge ${p.source}`;
  };

  const renderHeads = (steered: Summary, unsteered: Summary): void => {
    const row = el('heads');
    row.replaceChildren();
    const switched = steered.heads.flatMap((r, h) => (r >= 0.5 !== (unsteered.heads[h] ?? 0) >= 0.5 ? [`h${h} ${r >= 0.5 ? 'off → on' : 'on → off'}`] : []));
    const note = el('heads-switched');
    note.textContent = switched.length > 0 ? `Switched by steering: ${switched.join(', ')}` : 'No head crosses the 50% keep rate vs unsteered';
    note.classList.toggle('hot', switched.length > 0);
    steered.heads.forEach((rate, h) => {
      const base = unsteered.heads[h] ?? 0;
      const on = rate >= 0.5;
      const cell = make('div', `head ${on ? 'on' : 'off'}`);
      cell.id = `head-${h}`;
      cell.dataset['rate'] = rate.toFixed(4);
      cell.dataset['state'] = on ? 'on' : 'off';
      if (on !== base >= 0.5) cell.classList.add('switched');
      cell.title = `h${h}: kept on ${pct(rate)} of images (unsteered ${pct(base)})`;
      const bar = make('div', 'bar');
      const fill = make('div', 'fill');
      fill.style.height = `${100 * rate}%`;
      fill.style.background = heat(rate);
      const ghost = make('div', 'ghost');
      ghost.style.bottom = `${100 * base}%`;
      bar.append(fill, ghost);
      const d = rate - base;
      cell.append(
        make('div', 'rate', rate.toFixed(2)),
        bar,
        make('div', 'name', `h${h}`),
        make('div', `chip ${on ? 'on' : 'off'}`, on ? 'ON' : 'OFF'),
        make('div', `hdelta ${d > 0.005 ? 'up' : d < -0.005 ? 'down' : ''}`, Math.abs(d) < 0.005 ? '·' : signed(d, 2)),
      );
      row.append(cell);
    });
  };

  const renderCurve = (p: PointView): void => {
    const svg = el('curve');
    const W = 440;
    const Ht = 230;
    const m = { l: 34, r: 10, t: 10, b: 24 };
    const { min, max } = meta.alphaRange;
    const x = (a: number): number => m.l + ((a - min) / (max - min)) * (W - m.l - m.r);
    const y = (v: number): number => m.t + (1 - v) * (Ht - m.t - m.b);
    const pts = meta.curves.filter((c: CurvePoint) => c.strategy === p.strategy).sort((a, b) => a.alpha - b.alpha);
    const val = (c: CurvePoint, key: 'accuracy' | 'headUsage'): number => (p.class === 'all' ? c[key] : (c.perClass[p.class]?.[key] ?? 0));
    const line = (key: 'accuracy' | 'headUsage'): string =>
      pts.map((c, i) => `${i === 0 ? 'M' : 'L'}${x(c.alpha).toFixed(1)},${y(val(c, key)).toFixed(1)}`).join('');
    const dots = (key: 'accuracy' | 'headUsage', cls: string): string =>
      pts.map((c) => `<circle class="${cls}" cx="${x(c.alpha).toFixed(1)}" cy="${y(val(c, key)).toFixed(1)}" r="2.2"/>`).join('');
    const grid = [0, 0.25, 0.5, 0.75, 1]
      .map(
        (v) =>
          `<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${m.l - 6}" y="${y(v) + 3}" text-anchor="end">${v}</text>`,
      )
      .join('');
    const ticks = Array.from({ length: Math.round((max - min) / 0.5) + 1 }, (_, i) => min + 0.5 * i); // every 0.5 of the page's range
    const xt = ticks.map((a) => `<text class="tick" x="${x(a)}" y="${Ht - 8}" text-anchor="middle">${a}</text>`).join('');
    svg.innerHTML =
      `${grid}${xt}<line class="zero" x1="${x(0)}" x2="${x(0)}" y1="${m.t}" y2="${Ht - m.b}"/>` +
      `<line class="base acc" x1="${m.l}" x2="${W - m.r}" y1="${y(p.unsteered.accuracy)}" y2="${y(p.unsteered.accuracy)}"/>` +
      `<line class="base use" x1="${m.l}" x2="${W - m.r}" y1="${y(p.unsteered.headUsage)}" y2="${y(p.unsteered.headUsage)}"/>` +
      `<path class="acc" d="${line('accuracy')}"/><path class="use" d="${line('headUsage')}"/>${dots('accuracy', 'acc')}${dots('headUsage', 'use')}` +
      `<line class="now" x1="${x(p.alpha)}" x2="${x(p.alpha)}" y1="${m.t}" y2="${Ht - m.b}"/>` +
      `<circle class="cur acc" cx="${x(p.alpha)}" cy="${y(p.steered.accuracy)}" r="4.5"/><circle class="cur use" cx="${x(p.alpha)}" cy="${y(p.steered.headUsage)}" r="4.5"/>`;
    el('curve-title').textContent = `${p.strategy} · ${p.class === 'all' ? 'all classes' : (meta.classNames[p.class] ?? '')}`;
  };

  /** Ticks at 1, 2 or 5 times a power of ten, about `n` of them over [lo, hi]. */
  const niceTicks = (lo: number, hi: number, n: number): number[] => {
    const raw = (hi - lo) / n;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = ([1, 2, 5, 10].find((k) => k * p >= raw) ?? 10) * p;
    const out: number[] = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toFixed(12)));
    return out;
  };
  /** [lo, hi] of values, padded by 12% of the span and at least `minPad` per side. */
  const padded = (values: number[], minPad: number): [number, number] => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = Math.max(minPad, 0.12 * (hi - lo));
    return [lo - pad, hi + pad];
  };

  /**
   * Accuracy vs usage (docs/design.md "Controls"): every strategy's sweep (the selected one bold), the
   * threshold's beta sweep and concave frontier, the random policy, the found target points and the
   * current point; overall, or for a class its rows of each sweep against its own threshold curve.
   */
  const renderFrontier = (p: PointView): void => {
    const svg = el('frontier');
    const W = 560;
    const Ht = 330;
    const m = { l: 46, r: 12, t: 10, b: 36 };
    type UA = { usage: number; accuracy: number };
    const scoped = (c: CurvePoint): UA =>
      p.class === 'all'
        ? { usage: c.headUsage, accuracy: c.accuracy }
        : { usage: c.perClass[p.class]?.headUsage ?? 0, accuracy: c.perClass[p.class]?.accuracy ?? 0 };
    const sweeps = meta.strategies.map((st) => ({
      st,
      pts: meta.curves
        .filter((c) => c.strategy === st)
        .sort((a, b) => a.alpha - b.alpha)
        .map((c) => ({ ...scoped(c), alpha: c.alpha })),
    }));
    const curve: ThresholdCurve | undefined = meta.controls === null ? undefined : p.class === 'all' ? meta.controls.all : meta.controls.perClass[p.class];
    const random = p.class === 'all' && meta.controls !== null ? meta.controls.randomPolicy : [];
    const hits = target !== undefined && target.class === p.class ? target.knobs.filter((k) => k.reached) : [];
    const current: UA = { usage: p.steered.headUsage, accuracy: p.steered.accuracy };
    // The zoom frames the steering side (sweeps, random policy, targets, current point) and the bar where it lies there.
    const near: UA[] = [...sweeps.flatMap((s) => s.pts), ...random, ...hits, current];
    const xs = padded(zoom.checked || curve === undefined ? near.map((q) => q.usage) : [0, 1, ...near.map((q) => q.usage)], 0.01);
    // The bar under the current point (accuracy - margin) too, so the point and what it is measured against share the window.
    const under: UA[] = typeof p.margin === 'number' ? [{ usage: current.usage, accuracy: current.accuracy - p.margin }] : [];
    const bar = curve === undefined ? [] : zoom.checked ? [...curve.frontier.filter((q) => q.usage >= xs[0] && q.usage <= xs[1]), ...under] : curve.points;
    const ys = padded(
      [...near, ...bar].map((q) => q.accuracy),
      0.005,
    );
    const x = (u: number): number => m.l + ((u - xs[0]) / (xs[1] - xs[0])) * (W - m.l - m.r);
    const y = (a: number): number => m.t + (1 - (a - ys[0]) / (ys[1] - ys[0])) * (Ht - m.t - m.b);
    const xy = (q: UA): string => `${x(q.usage).toFixed(1)},${y(q.accuracy).toFixed(1)}`;
    const path = (qs: UA[]): string => qs.map((q, i) => `${i === 0 ? 'M' : 'L'}${xy(q)}`).join('');
    const tip = (what: string, q: UA): string => `<title>${what}: usage ${q.usage.toFixed(3)}, accuracy ${pct(q.accuracy)}</title>`;
    const parts: string[] = [];
    const xt = niceTicks(xs[0], xs[1], 6);
    const yt = niceTicks(ys[0], ys[1], 5);
    const digits = Math.max(0, -Math.floor(Math.log10(((yt[1] ?? 1) - (yt[0] ?? 0)) * 100) + 1e-9));
    for (const v of yt)
      parts.push(
        `<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${m.l - 6}" y="${y(v) + 3}" text-anchor="end">${(100 * v).toFixed(digits)}</text>`,
      );
    for (const v of xt)
      parts.push(
        `<line class="grid" x1="${x(v)}" x2="${x(v)}" y1="${m.t}" y2="${Ht - m.b}"/><text class="tick" x="${x(v)}" y="${Ht - m.b + 14}" text-anchor="middle">${v}</text>`,
      );
    parts.push(`<text class="axis" x="${(m.l + W - m.r) / 2}" y="${Ht - 4}" text-anchor="middle">final-layer head usage (fraction of heads kept)</text>`);
    parts.push(`<text class="axis" transform="translate(12 ${(m.t + Ht - m.b) / 2}) rotate(-90)" text-anchor="middle">accuracy (%)</text>`);
    parts.push(
      `<clipPath id="frontier-clip"><rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${Ht - m.t - m.b}"/></clipPath><g clip-path="url(#frontier-clip)">`,
    );
    const reach = curve?.frontier[0]?.usage;
    if (reach !== undefined && reach > xs[0]) {
      // Left of the bar's lowest usage no threshold shift goes: points there have no margin.
      const x1 = Math.min(x(reach), W - m.r);
      parts.push(`<rect class="reach" x="${m.l}" y="${m.t}" width="${Math.max(0, x1 - m.l)}" height="${Ht - m.t - m.b}"/>`);
      if (x1 - m.l > 14)
        parts.push(`<text class="reach-label" transform="translate(${(m.l + x1) / 2 + 3} ${m.t + 6}) rotate(90)">threshold cannot reach</text>`);
    }
    if (curve !== undefined) {
      // Past its largest usage the frontier stays at its best accuracy (fewer heads reach it), so it runs on flat.
      const last = curve.frontier[curve.frontier.length - 1];
      const flat = last === undefined ? [] : [{ usage: Math.max(1, xs[1]), accuracy: last.accuracy }];
      parts.push(`<path class="sweep" d="${path(curve.points)}"/><path class="bar" d="${path([...curve.frontier, ...flat])}"/>`);
      for (const q of curve.points)
        parts.push(
          `<rect class="thr" x="${x(q.usage) - 2.5}" y="${y(q.accuracy) - 2.5}" width="5" height="5">${tip(`threshold β = ${fmtParam(q.beta)}`, q)}</rect>`,
        );
    }
    for (const r of random) {
      const [cx, cy] = [x(r.usage), y(r.accuracy)];
      parts.push(
        `<path class="rp" stroke="${color(r.strategy)}" d="M${cx - 3.5},${cy - 3.5}L${cx + 3.5},${cy + 3.5}M${cx - 3.5},${cy + 3.5}L${cx + 3.5},${cy - 3.5}">${tip(`random policy at ${r.strategy} α = ${fmtParam(r.alpha)}`, r)}</path>`,
      );
    }
    // The selected strategy last, so it lies on top.
    for (const s of [...sweeps.filter((w) => w.st !== p.strategy), ...sweeps.filter((w) => w.st === p.strategy)]) {
      const sel = s.st === p.strategy ? ' sel' : '';
      parts.push(`<path class="steer${sel}" stroke="${color(s.st)}" d="${path(s.pts)}"/>`);
      for (const q of s.pts)
        parts.push(
          `<circle class="dot${sel}" data-strategy="${s.st}" fill="${color(s.st)}" cx="${x(q.usage).toFixed(1)}" cy="${y(q.accuracy).toFixed(1)}" r="${sel === '' ? 2.2 : 3}">${tip(`${s.st} α = ${fmtParam(q.alpha)}`, q)}</circle>`,
        );
    }
    if (target !== undefined && target.class === p.class) {
      parts.push(
        `<line class="ulim" x1="${x(target.usage)}" x2="${x(target.usage)}" y1="${m.t}" y2="${Ht - m.b}"/><text class="ulim-label" x="${x(target.usage) + 4}" y="${Ht - m.b - 6}">U = ${target.usage}</text>`,
      );
      for (const k of hits) {
        const [cx, cy] = [x(k.usage), y(k.accuracy)];
        parts.push(
          `<path class="hit" data-knob="${k.knob}" fill="${color(k.knob)}" d="M${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}L${cx - 6},${cy}Z">${tip(`${k.knob} ${k.knob === 'threshold' ? 'β' : 'α'} = ${fmtParam(k.param)} at the target`, k)}</path>`,
        );
      }
    }
    parts.push(
      `<circle class="cur" data-usage="${current.usage}" data-accuracy="${current.accuracy}" cx="${x(current.usage).toFixed(1)}" cy="${y(current.accuracy).toFixed(1)}" r="7">${tip(`current: ${p.strategy} α = ${fmtParam(p.alpha)}`, current)}</circle>`,
    );
    parts.push(
      `<text class="cur-label" x="${(x(current.usage) + 10).toFixed(1)}" y="${(y(current.accuracy) - 8).toFixed(1)}">α = ${fmtParam(p.alpha)}</text></g>`,
    );
    svg.innerHTML = parts.join('');
    svg.dataset['scope'] = String(p.class);
    el('frontier-title').textContent = `${scopeName(p.class)} · ${p.strategy} highlighted`;

    const note = el('frontier-note');
    note.classList.toggle('missing', meta.controls === null);
    if (meta.controls === null) note.textContent = shared.controlsMissing;
    else {
      const against = p.class === 'all' ? 'the threshold frontier' : 'this class’s threshold frontier (its rows of the β sweep)';
      const where = `${p.strategy} at α = ${fmtParam(p.alpha)} (usage ${current.usage.toFixed(3)})`;
      const mg = p.margin;
      const said =
        mg === null
          ? `${where}: no threshold curve for this scope.`
          : mg === 'below-reach'
            ? `${where} uses fewer heads than any threshold shift reaches (lowest ${reach?.toFixed(3) ?? '—'}), so it has no margin over ${against}.`
            : Math.abs(mg) <= shared.marginTolerance
              ? `${where} lies on ${against}.`
              : `${where} lies ${Math.abs(100 * mg).toFixed(2)} points ${mg > 0 ? 'above' : 'below'} ${against}.`;
      note.textContent = p.class === 'all' ? said : `${said} The random policy is recorded over all classes only, so it is not drawn here.`;
    }
    el('frontier-statement').textContent = meta.controls === null ? '' : `Over all classes (as the report says): ${meta.controls.statement}`;
  };

  const headDots = (heads: number[]): HTMLElement => {
    const box = make('span', 'dots');
    heads.forEach((k, h) => {
      const d = make('i', k >= 0.5 ? 'kept' : '');
      d.title = `h${h} ${k >= 0.5 ? 'kept' : 'pruned'}`;
      box.append(d);
    });
    return box;
  };

  const renderSamples = (images: SampleView[]): void => {
    const grid = el('samples');
    grid.replaceChildren();
    let flips = 0;
    for (const s of images) {
      const changed = s.before.prediction !== s.after.prediction;
      if (changed) flips++;
      const card = make('figure', `sample ${s.after.correct ? 'correct' : 'wrong'}${changed ? ' changed' : ''}`);
      card.dataset['index'] = String(s.index);
      const img = make('img', 'thumb');
      img.src = s.png;
      img.alt = `test image ${s.index}: ${s.name}`;
      const cap = make('figcaption');
      const row = (label: string, d: SampleView['before'], cls: string): HTMLElement => {
        const r = make('div', `pred ${cls} ${d.correct ? 'ok' : 'ko'}`);
        r.append(make('span', 'k', label), make('span', 'v', d.name), make('span', 'mark', d.correct ? '✓' : '✗'), headDots(d.heads));
        return r;
      };
      cap.append(make('div', 'truth', `#${s.index} · ${s.name}`), row('before', s.before, 'before'), row('after', s.after, 'after'));
      card.append(img, cap);
      if (changed) card.append(make('span', 'flag', 'changed'));
      grid.append(card);
    }
    const right = images.filter((s) => s.after.correct).length;
    el('samples-note').textContent =
      `${right}/${images.length} correct after steering (${images.filter((s) => s.before.correct).length} before); ${flips} prediction${flips === 1 ? '' : 's'} changed`;
  };

  const update = async (): Promise<void> => {
    const a = Number(num.value);
    if (!alphaOk(a)) {
      num.classList.add('invalid');
      showError(`alpha must be a number in [${meta.alphaRange.min}, ${meta.alphaRange.max}]`);
      return;
    }
    num.classList.remove('invalid');
    const mine = ++seq;
    const q = new URLSearchParams({ strategy: strategy(), alpha: String(a), class: classSel.value });
    document.body.classList.add('loading');
    try {
      const [p, imgs] = await Promise.all([getJson<PointView>(`/api/point?${q}`), getJson<{ images: SampleView[] }>(`/api/images?${q}`)]);
      if (mine !== seq) return; // a newer request is on its way
      showError('');
      renderMetrics(p);
      renderHeads(p.steered, p.unsteered);
      renderCurve(p);
      shown = p;
      renderFrontier(p);
      renderSamples(imgs.images);
      el('alpha-label').textContent = a.toFixed(2);
      // The latent view (latents_page.ts), filtered to the selected class's per-class set.
      const toLatents = el<HTMLAnchorElement>('class-latents');
      toLatents.href = classSel.value === 'all' ? '/latents' : `/latents?set=${classSel.value}`;
      toLatents.textContent = classSel.value === 'all' ? 'all SAE latents →' : `latents of ${meta.classNames[Number(classSel.value)] ?? ''}’s per-class set →`;
      document.querySelectorAll<HTMLButtonElement>('#grid-chips button').forEach((b) => {
        b.classList.toggle('active', Math.abs(Number(b.dataset['alpha']) - a) < 1e-9);
      });
      document.body.dataset['ready'] = `${p.strategy}|${a}|${classSel.value}`;
    } catch (e) {
      if (mine === seq) showError(e instanceof Error ? e.message : String(e));
    } finally {
      if (mine === seq) document.body.classList.remove('loading');
    }
  };
  const schedule = (): void => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void update(), 90);
  };

  const targetStatus = (msg: string, warn = false): void => {
    const s = el('target-status');
    s.textContent = msg;
    s.classList.toggle('warn', warn);
  };

  /** Set the page to a found strategy row: its strategy, alpha and the class it was matched on. */
  const jump = (t: TargetView, k: TargetView['knobs'][number]): void => {
    const { min, max } = meta.alphaRange;
    if (k.param < min || k.param > max) {
      targetStatus(
        `${k.knob} needs α = ${fmtParam(k.param)}, outside the page’s range [${fmtParam(min)}, ${fmtParam(max)}]; the slider cannot go there.`,
        true,
      );
      return;
    }
    const radio = document.querySelector<HTMLInputElement>(`input[name=strategy][value="${k.knob}"]`);
    if (radio === null) return;
    radio.checked = true;
    classSel.value = String(t.class);
    num.value = String(k.param);
    range.value = String(k.param);
    targetStatus(
      `Set to ${k.knob} at α = ${fmtParam(k.param)} on ${scopeName(t.class)}${k.reached ? '' : ' (its closest point; the target was not reached)'}.`,
    );
    schedule();
  };

  const renderTarget = (t: TargetView): void => {
    const table = el<HTMLTableElement>('target-table');
    el('target-scope').textContent = `usage ${t.usage} on ${scopeName(t.class)}; unsteered ${t.unsteered.toFixed(3)}`;
    const body = table.tBodies[0]!;
    body.replaceChildren();
    for (const k of t.knobs) {
      const isStrategy = k.knob !== 'threshold';
      const tr = make('tr', `${k.reached ? 'hit' : 'miss'}${isStrategy ? ' jump' : ''}`);
      tr.dataset['knob'] = k.knob;
      tr.dataset['param'] = String(k.param);
      const name = make('td');
      const sw = make('span', 'sw');
      sw.style.background = color(k.knob);
      name.append(sw, k.knob);
      const status = make('td', '', k.reached ? '✓ reached' : 'not reached');
      if (k.note !== undefined) status.append(make('small', 'note', k.note));
      tr.append(
        name,
        make('td', '', `${isStrategy ? 'α' : 'β'} = ${fmtParam(k.param)}`),
        make('td', '', k.usage.toFixed(3)),
        make('td', '', pct(k.accuracy)),
        status,
      );
      if (isStrategy) {
        tr.tabIndex = 0;
        tr.title = 'set the page to this strategy and α';
        tr.addEventListener('click', () => jump(t, k));
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            jump(t, k);
          }
        });
      } else tr.title = 'the threshold shift has no slider on this page; its point is marked in the frontier view';
      body.append(tr);
    }
    for (const knob of t.pending) {
      const tr = make('tr', 'miss');
      tr.append(make('td', '', knob), make('td', '', '…'), make('td', '', '…'), make('td', '', '…'), make('td', '', 'searching'));
      body.append(tr);
    }
    table.hidden = false;
  };

  /** Ask for every knob at the typed usage, again while some are pending. */
  const runTarget = async (): Promise<void> => {
    const u = Number(targetInput.value);
    if (targetInput.value === '' || !Number.isFinite(u) || u < 0 || u > 1) {
      targetInput.classList.add('invalid');
      targetStatus('The target usage must be a number in [0, 1] (a fraction of the final layer’s heads).', true);
      return;
    }
    targetInput.classList.remove('invalid');
    const cls = targetClass.checked ? classSel.value : 'all';
    const mine = ++targetSeq;
    const q = new URLSearchParams({ usage: String(u), class: cls });
    targetGo.disabled = true;
    let seconds = 0;
    let found = -1;
    try {
      for (;;) {
        targetStatus(`Searching for usage ${u} on ${cls === 'all' ? 'all classes' : `class ${cls}`}…`);
        const t = await getJson<TargetView>(`/api/target?${q}`);
        if (mine !== targetSeq) return; // a newer target was asked for
        // Every answer finds at least one more knob (the server caches them); if not, stop rather than loop.
        if (t.knobs.length <= found) throw new Error(`the search made no progress (${t.pending.join(', ')} pending); ask again`);
        found = t.knobs.length;
        seconds += t.seconds;
        target = t;
        renderTarget(t);
        if (shown !== undefined) renderFrontier(shown);
        if (t.pending.length === 0) {
          const reached = t.knobs.filter((k) => k.reached).length;
          targetStatus(
            `Usage ${t.usage} on ${scopeName(t.class)} (unsteered ${t.unsteered.toFixed(3)}): ${reached} of ${t.knobs.length} knobs reach it; ${seconds.toFixed(1)} s of search.`,
          );
          document.body.dataset['target'] = `${t.usage}|${t.class}`;
          return;
        }
      }
    } catch (e) {
      if (mine === targetSeq) targetStatus(e instanceof Error ? e.message : String(e), true);
    } finally {
      if (mine === targetSeq) targetGo.disabled = false;
    }
  };

  const setup = (m: Meta): void => {
    meta = m;
    el('run').textContent = m.run;
    el('facts').textContent =
      `${m.dataset} · ${m.testCount.toLocaleString('en-US')} test images · ${m.heads} final-layer heads · steering ${m.steerOptions.mode}/${m.steerOptions.target}${m.steerOptions.keepError ? ' + error' : ''}`;
    classSel.append(new Option('all classes', 'all'));
    m.classNames.forEach((n, c) => {
      classSel.append(new Option(`${c} · ${n}`, String(c)));
    });
    for (const [input, attr] of [
      [range, 'min'],
      [num, 'min'],
    ] as const)
      input.setAttribute(attr, String(m.alphaRange.min));
    for (const input of [range, num]) {
      input.max = String(m.alphaRange.max);
      input.step = String(m.alphaRange.step);
    }
    const list = el('alpha-grid');
    const chips = el('grid-chips');
    for (const a of m.alphas) {
      list.append(new Option('', String(a)));
      const b = make('button', 'chip-btn', String(a));
      b.type = 'button';
      b.dataset['alpha'] = String(a);
      b.addEventListener('click', () => {
        range.value = String(a);
        num.value = String(a);
        schedule();
      });
      chips.append(b);
    }
    const start = m.alphas.includes(shared.paperAlpha) ? shared.paperAlpha : (m.alphas[m.alphas.length - 1] ?? 0);
    range.value = String(start);
    num.value = String(start);
    range.addEventListener('input', () => {
      num.value = String(Number(range.value));
      schedule();
    });
    num.addEventListener('input', () => {
      const a = Number(num.value);
      if (num.value !== '' && alphaOk(a)) range.value = String(a);
      schedule();
    });
    classSel.addEventListener('change', schedule);
    document.querySelectorAll<HTMLInputElement>('input[name=strategy]').forEach((r) => {
      r.addEventListener('change', schedule);
    });
    zoom.addEventListener('change', () => {
      if (shown !== undefined) renderFrontier(shown);
    });
    const legend = el('frontier-legend');
    for (const st of m.strategies) {
      const i = make('i');
      i.style.borderColor = color(st);
      const item = make('span');
      item.append(i, st);
      legend.append(item);
    }
    const entry = (mark: HTMLElement, text: string): void => {
      const item = make('span');
      item.append(mark, text);
      legend.append(item);
    };
    // Without controls only the sweeps are drawn: no bar to name, nothing spanning usage 0-1 to zoom from.
    el('frontier-zoom-label').hidden = m.controls === null;
    if (m.controls !== null) {
      entry(make('span', 'sq'), 'threshold β sweep');
      entry(make('i', 'dash'), 'threshold frontier (concave)');
      entry(make('span', 'cross', '×'), 'random policy at matched usage');
    }
    entry(make('span', 'dia', '◆'), 'target points');
    entry(make('span', 'ring'), 'current point');
    targetInput.value = m.unsteered.headUsage.toFixed(2);
    el('target-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void runTarget();
    });
    void update();
  };

  getJson<Meta>('/api/meta').then(setup, (e: unknown) => showError(`could not load the run: ${e instanceof Error ? e.message : String(e)}`));
}
