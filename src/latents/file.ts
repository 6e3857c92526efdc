/**
 * The `latents` stage's files (docs/design.md "Latent dashboards"): `<run>/latents/latents.json`, one
 * dashboard per SAE latent over the test set, and `<run>/latents/thumbs.png`, one sprite sheet holding each
 * test image a dashboard shows once (`sprite.images[slot]` is the test index of tile `slot`, row-major in
 * `sprite.columns` columns). Numbers are rounded to 4 significant digits to keep the file small.
 * Legend: C classes, H final-layer heads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';

export const LATENTS_FILE = 'latents.json';
export const SPRITE_FILE = 'thumbs.png';

const num = z.number();
const ints = z.array(z.number().int().nonnegative());

/** What amplifying the latent alone does to the final gate, averaged over the test images where it fires. */
const gateSchema = z.strictObject({
  /** (H) mean change of each head's gate logit at alpha. */
  logit: z.array(num),
  /** (H) mean change of each head's keep bit (-1..1): the share of its images switched on minus off. */
  keep: z.array(num),
  /** (H) linearised logit change per unit of activation (W^T gamma J_LN(x_hat) d_i), averaged. */
  linear: z.array(num),
  /** ||logit||_2: the single number the dashboards sort and plot by. */
  effect: num,
  /** mean(keep): the change in final-layer head usage on its images. */
  usage: num,
});

const latentSchema = z.strictObject({
  index: z.number().int().nonnegative(),
  /** Share of test images with z_i > 0. */
  density: num,
  /** Test images with z_i > 0. */
  fires: z.number().int().nonnegative(),
  /** Mean and max of z_i over the images where it fires (0 for a latent that never does). */
  meanActive: num,
  maxActive: num,
  /** (C) firing rate within each class. */
  classRates: z.array(num),
  /** The class with the highest rate, null when it never fires. */
  topClass: z.number().int().nonnegative().nullable(),
  /** That class's share of the summed class rates: 1/C (no preference) .. 1 (one class only). */
  specificity: num,
  /** Test indices of the most activating images (most first) and their z_i. */
  top: ints,
  topValues: z.array(num),
  /** Test indices of images drawn from those where it fires (stream `rng(seed, 'latent-samples', i)`). */
  random: ints,
  randomValues: z.array(num),
  gate: gateSchema.nullable(),
  /** Index sets of stats.json it belongs to: the classes whose per-class set holds it, global, random. */
  sets: z.strictObject({ perClass: ints, global: z.boolean(), random: z.boolean() }),
});

const spriteSchema = z.strictObject({
  file: z.string(),
  tileWidth: z.number().int().positive(),
  tileHeight: z.number().int().positive(),
  columns: z.number().int().positive(),
  channels: z.number().int().positive(),
  /** Test index of each tile, ascending. */
  images: ints,
});

export const latentsFileSchema = z.strictObject({
  formatVersion: z.literal(1),
  /** The alpha of the gate effects (paper Eq. 5 with S = {i}). */
  alpha: num,
  options: z.strictObject({ mode: z.string(), keepError: z.boolean() }),
  classNames: z.array(z.string()),
  heads: z.number().int().positive(),
  testCount: z.number().int().nonnegative(),
  sprite: spriteSchema,
  latents: z.array(latentSchema),
});

export type LatentsFile = z.infer<typeof latentsFileSchema>;
export type LatentDashboard = z.infer<typeof latentSchema>;
export type LatentGate = z.infer<typeof gateSchema>;
export type SpriteLayout = z.infer<typeof spriteSchema>;

/** Validate a parsed latents.json; UserError naming the file and the first bad field. */
export function validateLatents(value: unknown, file: string): LatentsFile {
  const r = latentsFileSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UserError(
      `${file} is not a valid latents file (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'bad shape'}); rerun \`headsteer latents --force\``,
    );
  }
  return r.data;
}

/** The `latents` stage's outputs in `dir`; UserError naming the verb when they are missing. */
export function loadLatents(dir: string): { file: LatentsFile; sprite: Buffer } {
  const path = join(dir, LATENTS_FILE);
  if (!existsSync(path)) throw new UserError(`no latent dashboards in ${dir}; run \`headsteer latents\` first`);
  const file = validateLatents(readJson(path, 'latent dashboards'), path);
  const spritePath = join(dir, file.sprite.file);
  if (!existsSync(spritePath)) throw new UserError(`${spritePath} is missing; rerun \`headsteer latents --force\``);
  return { file, sprite: readFileSync(spritePath) };
}

/** The dashboard of latent `i`; UserError naming the valid range otherwise. */
export function latentAt(file: LatentsFile, i: number): LatentDashboard {
  const F = file.latents.length;
  if (!Number.isInteger(i) || i < 0 || i >= F) throw new UserError(`latent index must be an integer in [0, ${F - 1}] (the SAE has ${F} latents); got ${i}`);
  return file.latents[i]!;
}

/** x rounded to 4 significant digits (0 stays 0). */
export function round4(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(4));
}
