/**
 * Stage `latents` (docs/design.md "Latent dashboards"): every SAE latent's dashboard over the test set
 * (src/latents/dashboards.ts) -> `<run>/latents/thumbs.png` (the sprite sheet of the test images the
 * dashboards show) and `<run>/latents/latents.json`, written last so that its presence marks a complete stage.
 */
import { join } from 'node:path';
import { loadRunData } from '../config.js';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { GATE_ALPHA, latentDashboards } from '../latents/dashboards.js';
import { LATENTS_FILE, SPRITE_FILE, type LatentsFile } from '../latents/file.js';
import { spriteSheet } from '../latents/sprite.js';
import { requireStageOut } from '../run/layout.js';
import { provenanceOf, writeProvenance } from '../run/provenance.js';
import { loadSteerContext } from '../steer/sweep.js';
import type { SteerStageOptions } from './steer.js';

/** The stage reads what steering reads: features, SAE and statistics, into its own `out`. */
export type LatentsStageOptions = SteerStageOptions;

/** Dashboards of every latent into `out/latents.json` and `out/thumbs.png`; returns the file and the bytes written. */
export function latentsStage(o: LatentsStageOptions): { file: LatentsFile; bytes: { json: number; sprite: number } } {
  requireStageOut(o.out, 'latents');
  const provenance = provenanceOf(o.out, { extract: o.features, sae: o.sae, stats: o.stats }, o.cfg);
  const ctx = loadSteerContext(o, o.cfg.steer);
  try {
    const ds = loadRunData(o.cfg);
    const f = ctx.features;
    if (ds.test.count !== f.count || ds.test.labels.some((y, i) => i < f.count && y !== f.labels[i]))
      throw new UserError(
        `the features in ${o.features} do not match the test images of ${ds.name} (count or labels differ); rerun \`headsteer extract --force\``,
      );
    const latents = latentDashboards(ctx, o.cfg.seed, o.onProgress);
    const shown = [...new Set(latents.flatMap((l) => [...l.top, ...l.random]))].sort((a, b) => a - b);
    const sheet = spriteSheet({ images: ds.test.images, channels: ds.channels, height: ds.height, width: ds.width }, shown, SPRITE_FILE);
    const file: LatentsFile = {
      formatVersion: 1,
      alpha: GATE_ALPHA,
      options: { mode: ctx.steer.mode, keepError: ctx.steer.keepError },
      classNames: ctx.manifest.classNames,
      heads: ctx.manifest.heads,
      testCount: f.count,
      sprite: sheet.layout,
      latents,
    };
    const json = `${JSON.stringify(file)}\n`; // compact: pretty-printing would put every number on a line of its own
    writeFileAtomic(join(o.out, SPRITE_FILE), sheet.png);
    writeProvenance(o.out, provenance);
    writeFileAtomic(join(o.out, LATENTS_FILE), json);
    return { file, bytes: { json: Buffer.byteLength(json), sprite: sheet.png.length } };
  } finally {
    ctx.dispose();
  }
}
