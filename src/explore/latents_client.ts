/**
 * The latent view's script. `latentsClient` runs in the browser: latents_page.ts embeds its source text,
 * so it must stay self-contained (only type imports, which compile away); constants come in as its
 * argument. Type-checked with the DOM lib.
 *
 * Flow: fetch /api/latents once and render the table, filtered by the search box (latent number, class
 * name, `global`, `random`) and the class set of `?set=c` (linked from the steering view), sorted by the
 * chosen column; a click fetches /api/latent?i= and renders the dashboard; the steer form fetches
 * /api/latent-steer?i=&alpha=. `body[data-ready]` names what was last rendered: `list`, `latent|i` or
 * `steer|i|alpha`.
 */
import type { LatentImage, LatentList, LatentRow, LatentSteerView, LatentSummary, LatentView } from './latents.js';

/** What the page passes in. */
export interface LatentsClientConstants {
  alphaRange: { min: number; max: number };
  defaultAlpha: number;
}

export function latentsClient(shared: LatentsClientConstants): void {
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
  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(path);
    const body = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
    return body;
  };
  const pct = (x: number, d = 1): string => `${(100 * x).toFixed(d)}%`;
  const signed = (x: number, d: number): string => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(d)}`;
  const showError = (msg: string): void => {
    const box = el('error');
    box.textContent = msg;
    box.hidden = msg === '';
  };
  const ready = (key: string): void => {
    document.body.dataset['ready'] = key;
  };

  let list: LatentList;
  let current: number | undefined;
  const search = el<HTMLInputElement>('latent-search');
  const sort = el<HTMLSelectElement>('latent-sort');
  const setParam = new URLSearchParams(location.search).get('set');
  let setClass = setParam === null || setParam === 'all' ? undefined : Number(setParam);
  const className = (c: number | null): string => (c === null ? '–' : (list.classNames[c] ?? String(c)));

  const matches = (r: LatentRow, q: string): boolean => {
    if (setClass !== undefined && !r.perClass.includes(setClass)) return false;
    if (q === '') return true;
    if (/^#?\d+$/.test(q)) return String(r.index) === q.replace('#', '');
    if (q === 'global') return r.global;
    if (q === 'random') return r.random;
    return className(r.topClass).toLowerCase().includes(q);
  };

  const renderList = (): void => {
    const q = search.value.trim().toLowerCase();
    const key = sort.value as 'effect' | 'specificity' | 'density' | 'index';
    const rows = list.rows.filter((r) => matches(r, q)).sort((a, b) => (key === 'index' ? a.index - b.index : b[key] - a[key] || a.index - b.index));
    const body = el('latent-table').querySelector('tbody')!;
    body.replaceChildren(
      ...rows.map((r) => {
        const tr = make('tr');
        tr.dataset['latent'] = String(r.index);
        if (r.index === current) tr.classList.add('sel');
        const sets = make('td');
        for (const c of r.perClass) sets.append(make('span', 'tag', className(c)));
        if (r.global) sets.append(make('span', 'tag', 'global'));
        if (r.random) sets.append(make('span', 'tag', 'random'));
        tr.append(
          make('td', '', String(r.index)),
          make('td', '', className(r.topClass)),
          make('td', '', pct(r.density, 2)),
          make('td', '', r.specificity.toFixed(3)),
          make('td', '', r.effect.toFixed(3)),
          make('td', '', signed(r.usage, 3)),
          sets,
        );
        tr.addEventListener('click', () => void openLatent(r.index));
        return tr;
      }),
    );
    el('latent-count').textContent = `${rows.length} of ${list.rows.length} latents`;
    const filter = el('set-filter');
    filter.hidden = setClass === undefined;
    if (setClass !== undefined) {
      filter.textContent = `per-class set of ${className(setClass)}`;
      const clear = make('button', '', 'show all');
      clear.id = 'set-clear';
      clear.addEventListener('click', () => {
        setClass = undefined;
        history.replaceState(null, '', '/latents');
        renderList();
      });
      filter.append(clear);
    }
  };

  const thumbs = (box: HTMLElement, images: Array<LatentImage & { caption?: string }>): void => {
    box.replaceChildren(
      ...images.map((img) => {
        const fig = make('figure');
        fig.dataset['index'] = String(img.index);
        const im = make('img');
        im.src = img.png;
        im.alt = `test image ${img.index}`;
        fig.append(im, make('figcaption', '', img.caption ?? `${className(img.label)} · ${img.value.toFixed(2)}`));
        return fig;
      }),
    );
  };

  const openLatent = async (i: number): Promise<void> => {
    try {
      const v = await getJson<LatentView>(`/api/latent?i=${i}`);
      current = i;
      const d = v.dashboard;
      el('dash-title').textContent = `Latent ${d.index}`;
      el('dash-empty').hidden = true;
      el('dash-body').hidden = false;
      el('d-density').textContent = pct(d.density, 2);
      el('d-act').textContent = `${d.meanActive.toFixed(2)} / ${d.maxActive.toFixed(2)}`;
      el('d-spec').textContent = `${d.specificity.toFixed(3)}`;
      el('d-effect').textContent = d.gate === null ? '–' : d.gate.effect.toFixed(3);
      const maxRate = Math.max(...d.classRates, 1e-9);
      el('d-classes').replaceChildren(
        ...d.classRates.map((r, c) => {
          const bar = make('div', `bar${c === d.topClass ? ' top' : ''}`);
          const track = make('div', 'track');
          const fill = make('div', 'fill');
          fill.style.width = `${(100 * r) / maxRate}%`;
          track.append(fill);
          bar.append(make('span', '', className(c)), track, make('span', '', pct(r)));
          return bar;
        }),
      );
      const sets = [...d.sets.perClass.map((c) => `per-class ${className(c)}`), ...(d.sets.global ? ['global'] : []), ...(d.sets.random ? ['random'] : [])];
      el('d-sets').textContent = `Index sets (stats.json): ${sets.length === 0 ? 'none' : sets.join(', ')}. Most specific to ${className(d.topClass)}.`;
      el('d-heads')
        .querySelector('tbody')!
        .replaceChildren(
          ...(d.gate === null
            ? [make('tr', '', 'never fires on the test set')]
            : d.gate.logit.map((v, h) => {
                const tr = make('tr');
                tr.dataset['head'] = String(h);
                tr.append(
                  make('td', '', `h${h}`),
                  make('td', v > 0 ? 'pos' : v < 0 ? 'neg' : '', signed(v, 4)),
                  make('td', '', signed(d.gate!.keep[h]!, 4)),
                  make('td', '', signed(d.gate!.linear[h]!, 4)),
                );
                return tr;
              })),
        );
      thumbs(el('d-top'), v.top);
      thumbs(el('d-random'), v.random);
      el('steer-result').hidden = true;
      showError('');
      renderList();
      ready(`latent|${i}`);
    } catch (e) {
      showError(e instanceof Error ? e.message : String(e));
    }
  };

  const summaryRow = (name: string, s: LatentSummary, r: LatentSummary): HTMLTableRowElement => {
    const tr = make('tr');
    tr.dataset['scope'] = name;
    tr.dataset['heads'] = JSON.stringify(s.heads.map((x) => Number(x.toFixed(6))));
    tr.append(
      make('td', '', `${name} (${s.count})`),
      make('td', '', `${pct(r.accuracy)} → ${pct(s.accuracy)}`),
      make('td', '', `${r.headUsage.toFixed(3)} → ${s.headUsage.toFixed(3)}`),
      make('td', '', s.heads.map((x, h) => `h${h} ${(r.heads[h] ?? 0).toFixed(2)}→${x.toFixed(2)}`).join('  ')),
    );
    return tr;
  };

  el('steer-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = el<HTMLInputElement>('steer-alpha');
    const alpha = Number(input.value);
    if (current === undefined) return;
    if (!(Number.isFinite(alpha) && alpha >= shared.alphaRange.min && alpha <= shared.alphaRange.max)) {
      showError(`alpha must be a number in [${shared.alphaRange.min}, ${shared.alphaRange.max}]`);
      return;
    }
    const i = current;
    void (async () => {
      try {
        const s = await getJson<LatentSteerView>(`/api/latent-steer?i=${i}&alpha=${alpha}`);
        el('steer-table')
          .querySelector('tbody')!
          .replaceChildren(summaryRow('all', s.all.steered, s.all.reference), summaryRow('firing', s.firing.steered, s.firing.reference));
        const dots = (heads: number[]): string => heads.map((k) => (k > 0 ? '■' : '□')).join('');
        thumbs(
          el('steer-samples'),
          s.samples.map((x) => ({
            index: x.index,
            value: 0,
            label: x.label,
            png: x.png,
            caption: `${className(x.before.prediction)} ${dots(x.before.heads)} → ${className(x.after.prediction)} ${dots(x.after.heads)}`,
          })),
        );
        el('steer-result').hidden = false;
        showError('');
        ready(`steer|${i}|${alpha}`);
      } catch (e) {
        showError(e instanceof Error ? e.message : String(e));
      }
    })();
  });

  search.addEventListener('input', renderList);
  sort.addEventListener('change', renderList);
  el<HTMLInputElement>('steer-alpha').value = String(shared.defaultAlpha);
  void (async () => {
    try {
      list = await getJson<LatentList>('/api/latents');
      renderList();
      ready('list');
    } catch (e) {
      showError(e instanceof Error ? e.message : String(e));
    }
  })();
}
