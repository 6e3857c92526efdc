/**
 * Resampling a pretrained ViT's input side for fine-tuning at another image size or channel count
 * (docs/design.md "Fine-tuning a pretrained ViT"), as timm does when it loads a checkpoint:
 *  - the position embedding's patch grid is interpolated as an image (timm `resample_abs_pos_embed`:
 *    PyTorch's antialiased bicubic or bilinear, align_corners false), the CLS position kept as it is;
 *  - the patch embedding's input channels follow the data (timm `adapt_input_conv`): grayscale data sums
 *    the kernel over RGB (the same as feeding the gray image three times), more channels repeat it.
 * Legend: N = 1 + g*g tokens, g grid side, D width, C channels, P patch.
 */

/** How the grid is interpolated (PyTorch `F.interpolate(..., antialias=True)` modes). */
export type PosEmbedInterp = 'bicubic' | 'bilinear';

/** PyTorch's antialiased filters (aten UpSampleKernel `aa_filter`): bicubic uses a = -0.5, as PIL. */
function filter(mode: PosEmbedInterp, x: number): number {
  const t = Math.abs(x);
  if (mode === 'bilinear') return t < 1 ? 1 - t : 0;
  const a = -0.5;
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * The (out, in) matrix that resamples one axis from `n` to `m` samples, row i the normalised weights
 * of output i (PyTorch `_compute_indices_min_size_weights_aa`, so both directions are antialiased).
 */
export function resampleMatrix(n: number, m: number, mode: PosEmbedInterp): Float64Array {
  const w = new Float64Array(m * n);
  const scale = n / m;
  const support = (mode === 'bicubic' ? 2 : 1) * Math.max(1, scale);
  const invScale = scale >= 1 ? 1 / scale : 1;
  for (let i = 0; i < m; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), n);
    let total = 0;
    for (let j = lo; j < hi; j++) total += filter(mode, (j - center + 0.5) * invScale);
    for (let j = lo; j < hi; j++) w[i * n + j] = filter(mode, (j - center + 0.5) * invScale) / (total === 0 ? 1 : total);
  }
  return w;
}

/**
 * pos (1, 1 + g*g, D) -> (1, 1 + m*m, D): the CLS row copied, the g x g grid of D-vectors resampled to
 * m x m (rows, then columns, in float64).
 */
export function resamplePosEmbed(pos: Float32Array, dim: number, g: number, m: number, mode: PosEmbedInterp): Float32Array {
  if (pos.length !== (1 + g * g) * dim) throw new RangeError(`pos_embed has ${pos.length} values, expected (1 + ${g}*${g}) * ${dim}`);
  const out = new Float32Array((1 + m * m) * dim);
  out.set(pos.subarray(0, dim)); // CLS position
  const R = resampleMatrix(g, m, mode); // (m, g)
  const rows = new Float64Array(m * g * dim); // (m, g, D): resampled along the grid's rows
  for (let i = 0; i < m; i++)
    for (let y = 0; y < g; y++) {
      const wy = R[i * g + y]!;
      if (wy === 0) continue;
      for (let x = 0; x < g; x++) {
        const src = (1 + y * g + x) * dim;
        const dst = (i * g + x) * dim;
        for (let d = 0; d < dim; d++) rows[dst + d]! += wy * pos[src + d]!;
      }
    }
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      const dst = (1 + i * m + j) * dim;
      for (let d = 0; d < dim; d++) {
        let s = 0;
        for (let x = 0; x < g; x++) s += R[j * g + x]! * rows[(i * g + x) * dim + d]!;
        out[dst + d] = s;
      }
    }
  return out;
}

/**
 * Patch-embedding kernel (D, C, P, P) for `to` input channels (timm `adapt_input_conv`): 1 sums over
 * the C channels; from C = 3 to more (or fewer but not 1) channels, the kernel is tiled over channels and
 * scaled by 3 / to. Returns null for the combinations timm does not convert either.
 */
export function adaptInputChannels(w: Float32Array, dim: number, from: number, to: number, patch: number): Float32Array | null {
  const pp = patch * patch;
  const out = new Float32Array(dim * to * pp);
  if (to === 1) {
    for (let o = 0; o < dim; o++) for (let c = 0; c < from; c++) for (let k = 0; k < pp; k++) out[o * pp + k]! += w[(o * from + c) * pp + k]!;
    return out;
  }
  if (from !== 3) return null;
  for (let o = 0; o < dim; o++)
    for (let c = 0; c < to; c++) for (let k = 0; k < pp; k++) out[(o * to + c) * pp + k] = (w[(o * from + (c % from)) * pp + k]! * 3) / to;
  return out;
}
