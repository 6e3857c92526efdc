/**
 * The explorer page's script. `explorerClient` runs in the browser: page.ts embeds its source text
 * (`explorerClient.toString()`), so it must stay self-contained — no imports or module-level names
 * inside, only the type-only imports below, which compile away. Constants it shares with the server's
 * modules come in as its argument (`ClientConstants`), which page.ts writes into the page as JSON.
 * Type-checked with the DOM lib.
 *
 * Flow: fetch /api/meta once, then on every control change fetch /api/point and /api/images for
 * (strategy, alpha, class) and render the metrics, the final-layer head row (H), the accuracy/usage
 * curves over the alpha grid and the sample images. `body[data-ready]` names the point last rendered.
 */
import type { CurvePoint, Meta, PointView, SampleView, Summary } from './data.js';

/** What the client shares with the server's modules; page.ts passes it, since the client can import nothing. */
export interface ClientConstants {
  /** The alpha the page opens at when the grid has it: the paper's (steer/strategies.ts PAPER_ALPHA). */
  paperAlpha: number;
  /** The strategy page.ts checks first, read when no strategy is checked. */
  firstStrategy: string;
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
  const classSel = el<HTMLSelectElement>('class');
  const range = el<HTMLInputElement>('alpha-range');
  const num = el<HTMLInputElement>('alpha-input');

  const strategy = (): string => (document.querySelector<HTMLInputElement>('input[name=strategy]:checked')?.value ?? shared.firstStrategy);
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
    const H = meta.heads;
    el('heads-kept').textContent = `${(p.steered.headUsage * H).toFixed(2)} of ${H} heads kept on average (unsteered ${(p.unsteered.headUsage * H).toFixed(2)})`;
    const src = el('source');
    src.textContent = p.source === 'results' ? 'precomputed · results.json' : 'computed live · fast path';
    src.className = `badge ${p.source}`;
  };

  const renderHeads = (steered: Summary, unsteered: Summary): void => {
    const row = el('heads');
    row.replaceChildren();
    const switched = steered.heads.flatMap((r, h) => ((r >= 0.5) !== ((unsteered.heads[h] ?? 0) >= 0.5) ? [`h${h} ${r >= 0.5 ? 'off → on' : 'on → off'}`] : []));
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
    const val = (c: CurvePoint, key: 'accuracy' | 'headUsage'): number => (p.class === 'all' ? c[key] : c.perClass[p.class]?.[key] ?? 0);
    const line = (key: 'accuracy' | 'headUsage'): string => pts.map((c, i) => `${i === 0 ? 'M' : 'L'}${x(c.alpha).toFixed(1)},${y(val(c, key)).toFixed(1)}`).join('');
    const dots = (key: 'accuracy' | 'headUsage', cls: string): string => pts.map((c) => `<circle class="${cls}" cx="${x(c.alpha).toFixed(1)}" cy="${y(val(c, key)).toFixed(1)}" r="2.2"/>`).join('');
    const grid = [0, 0.25, 0.5, 0.75, 1].map((v) => `<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${m.l - 6}" y="${y(v) + 3}" text-anchor="end">${v}</text>`).join('');
    const ticks = Array.from({ length: Math.round((max - min) / 0.5) + 1 }, (_, i) => min + 0.5 * i); // every 0.5 of the page's range
    const xt = ticks.map((a) => `<text class="tick" x="${x(a)}" y="${Ht - 8}" text-anchor="middle">${a}</text>`).join('');
    svg.innerHTML =
      `${grid}${xt}<line class="zero" x1="${x(0)}" x2="${x(0)}" y1="${m.t}" y2="${Ht - m.b}"/>` +
      `<line class="base acc" x1="${m.l}" x2="${W - m.r}" y1="${y(p.unsteered.accuracy)}" y2="${y(p.unsteered.accuracy)}"/>` +
      `<line class="base use" x1="${m.l}" x2="${W - m.r}" y1="${y(p.unsteered.headUsage)}" y2="${y(p.unsteered.headUsage)}"/>` +
      `<path class="acc" d="${line('accuracy')}"/><path class="use" d="${line('headUsage')}"/>${dots('accuracy', 'acc')}${dots('headUsage', 'use')}` +
      `<line class="now" x1="${x(p.alpha)}" x2="${x(p.alpha)}" y1="${m.t}" y2="${Ht - m.b}"/>` +
      `<circle class="cur acc" cx="${x(p.alpha)}" cy="${y(p.steered.accuracy)}" r="4.5"/><circle class="cur use" cx="${x(p.alpha)}" cy="${y(p.steered.headUsage)}" r="4.5"/>`;
    el('curve-title').textContent = `${p.strategy} · ${p.class === 'all' ? 'all classes' : meta.classNames[p.class] ?? ''}`;
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
    el('samples-note').textContent = `${right}/${images.length} correct after steering (${images.filter((s) => s.before.correct).length} before); ${flips} prediction${flips === 1 ? '' : 's'} changed`;
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
      renderSamples(imgs.images);
      el('alpha-label').textContent = a.toFixed(2);
      document.querySelectorAll<HTMLButtonElement>('#grid-chips button').forEach((b) => b.classList.toggle('active', Math.abs(Number(b.dataset['alpha']) - a) < 1e-9));
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

  const setup = (m: Meta): void => {
    meta = m;
    el('run').textContent = m.run;
    el('facts').textContent = `${m.dataset} · ${m.testCount.toLocaleString('en-US')} test images · ${m.heads} final-layer heads · steering ${m.steerOptions.mode}/${m.steerOptions.target}${m.steerOptions.keepError ? ' + error' : ''}`;
    classSel.append(new Option('all classes', 'all'));
    m.classNames.forEach((n, c) => classSel.append(new Option(`${c} · ${n}`, String(c))));
    for (const [input, attr] of [[range, 'min'], [num, 'min']] as const) input.setAttribute(attr, String(m.alphaRange.min));
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
    const start = m.alphas.includes(shared.paperAlpha) ? shared.paperAlpha : m.alphas[m.alphas.length - 1] ?? 0;
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
    document.querySelectorAll<HTMLInputElement>('input[name=strategy]').forEach((r) => r.addEventListener('change', schedule));
    void update();
  };

  getJson<Meta>('/api/meta').then(setup, (e: unknown) => showError(`could not load the run: ${e instanceof Error ? e.message : String(e)}`));
}
