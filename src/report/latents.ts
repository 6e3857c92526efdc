/**
 * The report's latent section (docs/design.md "Latent dashboards"), from `<run>/latents/`: a scatter of
 * every latent's class specificity against its gate effect, so a reader sees whether the class-specific
 * latents are also the ones that drive the final gate, and a table of the latents with the largest gate
 * effect, each with its top images cut from the dashboards' sprite sheet (inline PNGs: the page stays
 * self-contained).
 * Legend: C classes, H final-layer heads, F latents.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pngDataUrl } from '../io/png.js';
import { LATENTS_FILE, loadLatents, type LatentDashboard, type LatentsFile } from '../latents/file.js';
import { readSprite, spriteTile } from '../latents/sprite.js';
import { stageDir } from '../run/layout.js';
import type { FigureSpec } from './figures_steer.js';
import { notice, table } from './html.js';
import { notRunYet } from './inputs.js';
import type { TopLevelSpec } from './render.js';

/** Latents in the table, and top images shown for each. */
export const TABLE_LATENTS = 10;
const TABLE_IMAGES = 8;

/** What a latent belongs to, for the figure's colour: the paper's per-class sets first. */
function membership(l: LatentDashboard): string {
  if (l.sets.perClass.length > 0) return 'in a per-class set';
  if (l.sets.global) return 'in the global set only';
  return 'in no class or global set';
}

/** Firing latents, largest gate effect first (ties to the lower index). */
export function byGateEffect(file: LatentsFile): LatentDashboard[] {
  return file.latents.filter((l) => l.gate !== null).sort((a, b) => b.gate!.effect - a.gate!.effect || a.index - b.index);
}

/** Specificity (x) against gate effect (y), one point per latent that fires; the table's latents labelled. */
export function latentScatterFigure(file: LatentsFile): FigureSpec {
  const C = file.classNames.length;
  const ranked = byGateEffect(file);
  const labelled = new Set(ranked.slice(0, TABLE_LATENTS).map((l) => l.index));
  const values = ranked.map((l) => ({
    index: l.index,
    specificity: l.specificity,
    effect: l.gate!.effect,
    density: l.density,
    set: membership(l),
    cls: l.topClass === null ? '' : (file.classNames[l.topClass] ?? ''),
    label: labelled.has(l.index) ? `#${l.index}` : '',
  }));
  const sets = ['in a per-class set', 'in the global set only', 'in no class or global set'];
  const maxEffect = Math.max(1e-6, ...values.map((v) => v.effect));
  return {
    name: 'latent-specificity-effect',
    title: 'SAE latents: class specificity vs gate effect',
    caption: `Each point is a latent that fires on the test set (${values.length} of ${file.latents.length}): x is the share of its summed per-class firing rates on its top class (1/${C} = no preference, 1 = one class only), y the norm of the mean change of the final gate’s ${file.heads} head logits when it alone is amplified (Eq. 5, S = {i}, α = ${file.alpha}) on the images where it fires; point area is its density. The ${TABLE_LATENTS} largest effects are labelled and listed below.`,
    spec: {
      title: {
        text: 'Class specificity vs gate effect per SAE latent',
        subtitle: `Eq. 5 with S = {i}, α = ${file.alpha}, averaged over the test images where latent i fires`,
      },
      width: 560,
      height: 340,
      data: { values },
      layer: [
        {
          mark: { type: 'circle', opacity: 0.7 },
          encoding: {
            x: {
              field: 'specificity',
              type: 'quantitative',
              title: 'Class specificity (top class’s share of the class firing rates)',
              scale: { domain: [0, 1] },
            },
            y: { field: 'effect', type: 'quantitative', title: 'Gate effect ‖Δ logit‖ (final layer)', scale: { domain: [0, maxEffect * 1.08] } },
            color: { field: 'set', type: 'nominal', title: 'Index sets', sort: sets, scale: { domain: sets, range: ['#1f77b4', '#ff7f0e', '#9a9a9a'] } },
            size: { field: 'density', type: 'quantitative', title: 'Density', scale: { range: [12, 260] } },
            tooltip: [{ field: 'index' }, { field: 'cls', title: 'top class' }, { field: 'specificity' }, { field: 'effect' }],
          },
        },
        {
          mark: { type: 'text', dx: 6, dy: -6, align: 'left', fontSize: 10 },
          encoding: { x: { field: 'specificity', type: 'quantitative' }, y: { field: 'effect', type: 'quantitative' }, text: { field: 'label' } },
        },
      ],
    } as TopLevelSpec,
  };
}

/** The latents with the largest gate effect: numbers, index sets and top images (inline PNGs). */
export function latentTable(file: LatentsFile, spritePng: Uint8Array): string {
  const sprite = readSprite(spritePng, file.sprite);
  const { channels, tileHeight, tileWidth } = file.sprite;
  const name = (c: number | null): string => (c === null ? '–' : (file.classNames[c] ?? String(c)));
  const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
  const rows = byGateEffect(file)
    .slice(0, TABLE_LATENTS)
    .map((l) => {
      const imgs = l.top.slice(0, TABLE_IMAGES).map((n) => {
        const tile = spriteTile(sprite, n);
        return tile === undefined
          ? ''
          : `<img class="thumb" src="${pngDataUrl(tile, channels, tileHeight, tileWidth)}" alt="test image ${n}" title="test image ${n}">`;
      });
      const sets = [...l.sets.perClass.map((c) => `per-class ${name(c)}`), ...(l.sets.global ? ['global'] : []), ...(l.sets.random ? ['random'] : [])];
      return [
        `#${l.index}`,
        l.gate!.effect.toFixed(3),
        signed(l.gate!.usage),
        name(l.topClass),
        l.specificity.toFixed(3),
        `${(100 * l.density).toFixed(2)}%`,
        sets.length === 0 ? '–' : sets.join(', '),
        { html: `<span class="thumbs">${imgs.join('')}</span>` },
      ];
    });
  return table(
    ['latent', 'gate effect', 'Δ usage', 'top class', 'specificity', 'density', 'index sets', `top ${TABLE_IMAGES} test images`],
    rows,
    `The ${TABLE_LATENTS} latents with the largest gate effect at α = ${file.alpha} (Δ usage: change in final-layer head usage on the images where it fires). Every latent's dashboard: \`headsteer latents --latent i\` or the explorer's latent view.`,
  );
}

/** The stylesheet the table's thumbnails need (pixelated, so a 28 px image stays sharp). */
export const LATENT_CSS = '.thumbs { display:inline-flex; gap:3px; } .thumbs img.thumb { width:40px; height:40px; image-rendering:pixelated; }';

/** The section's blocks: the figure and the table, or a notice naming the verb when the stage has not run. */
export function latentBlocks(run: string): Array<{ figure: FigureSpec } | { html: string }> {
  const dir = stageDir(run, 'latents');
  if (!existsSync(join(dir, LATENTS_FILE))) return [{ html: notice(`${notRunYet('latents')} (the per-latent dashboards come from latents/latents.json)`) }];
  const { file, sprite } = loadLatents(dir);
  if (byGateEffect(file).length === 0) return [{ html: notice('no SAE latent fires on the test set, so there is no gate effect to plot') }];
  return [{ figure: latentScatterFigure(file) }, { html: `<style>${LATENT_CSS}</style>${latentTable(file, sprite)}` }];
}
