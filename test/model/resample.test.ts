/**
 * Fine-tuning's input resampling (src/model/resample.ts) against PyTorch: the position-embedding grid
 * interpolated as `F.interpolate(grid, size, mode, antialias=True, align_corners=False)` (what timm's
 * `resample_abs_pos_embed` calls), up and down, bicubic and bilinear, within 1e-6 (the expected values
 * were printed by torch 1.13 in float64 and rounded to 7 decimals); the CLS position is kept; the
 * grayscale patch kernel is the RGB kernel summed over channels, so a gray image gives what the RGB
 * model gives on that image repeated three times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adaptInputChannels, resampleMatrix, resamplePosEmbed, type PosEmbedInterp } from '../../src/model/resample.js';

/** The test grid of the torch script: value(i, j) = ((7i + 3j) mod 5) / 4 - 0.3 i + 0.1 j^2. */
function grid(g: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) out.push(((i * 7 + j * 3) % 5) / 4 - 0.3 * i + 0.1 * j * j);
  return out;
}

const TORCH: Record<PosEmbedInterp, Array<[number, number, number[]]>> = {
  bicubic: [
    [
      3,
      5,
      [
        -0.0863653, 0.3293086, 0.9292453, 0.780428, 0.6126913, 0.0301324, 0.1923675, 0.4727612, 0.6823318, 0.7893833, 0.2301887, 0.0126866, -0.2, 0.463806,
        0.9292453, 0.3732188, 0.1656939, -0.1171642, 0.0535615, 0.1994579, 0.445283, 0.2879752, 0.0150943, -0.1939172, -0.3014596,
      ],
    ],
    [5, 3, [0.1971598, 0.8214311, 1.9439645, 0.058068, 0.1555814, 1.2418962, -0.5088757, -0.0331664, 0.5263905]],
  ],
  bilinear: [
    [3, 5, [0.0, 0.34, 0.85, 0.73, 0.65, 0.08, 0.22, 0.43, 0.61, 0.73, 0.2, 0.04, -0.2, 0.43, 0.85, 0.32, 0.16, -0.08, 0.1, 0.22, 0.4, 0.24, 0.0, -0.12, -0.2]],
    [5, 3, [0.2204082, 0.8198413, 1.8704082, 0.0698413, 0.2148148, 1.2039683, -0.477551, 0.0, 0.5346939]],
  ],
};

for (const mode of ['bicubic', 'bilinear'] as const) {
  for (const [g, m, want] of TORCH[mode]) {
    test(`pos_embed ${g}x${g} -> ${m}x${m} ${mode} matches torch's antialiased interpolate to 1e-6; CLS kept; every channel alike`, () => {
      const D = 2;
      const values = grid(g);
      const pos = new Float32Array((1 + g * g) * D);
      pos.set([0.25, -1.5]); // CLS
      values.forEach((v, t) => {
        pos[(1 + t) * D] = v;
        pos[(1 + t) * D + 1] = -2 * v;
      });
      const out = resamplePosEmbed(pos, D, g, m, mode);
      assert.equal(out.length, (1 + m * m) * D);
      assert.deepEqual([out[0], out[1]], [0.25, -1.5]);
      for (let t = 0; t < m * m; t++) {
        assert.ok(Math.abs(out[(1 + t) * D]! - want[t]!) < 1e-6, `${mode} token ${t}: ${out[(1 + t) * D]} vs torch ${want[t]}`);
        assert.ok(Math.abs(out[(1 + t) * D + 1]! + 2 * want[t]!) < 2e-6, `${mode} token ${t}, channel 1`);
      }
    });
  }
}

test('the same grid size resamples to itself; every row of weights sums to 1', () => {
  for (const mode of ['bicubic', 'bilinear'] as const) {
    const R = resampleMatrix(4, 4, mode);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(R[i * 4 + j]! - (i === j ? 1 : 0)) < 1e-12);
    for (const [n, m] of [
      [14, 4],
      [4, 14],
    ] as const) {
      const W = resampleMatrix(n, m, mode);
      for (let i = 0; i < m; i++) assert.ok(Math.abs(W.subarray(i * n, (i + 1) * n).reduce((a, b) => a + b, 0) - 1) < 1e-12);
    }
  }
});

test('grayscale: the summed kernel on a gray patch equals the RGB kernel on it repeated; 3 -> 6 channels tiles and scales by 1/2', () => {
  const D = 2;
  const P = 2;
  const w = Float32Array.from({ length: D * 3 * P * P }, (_, i) => Math.sin(i + 1));
  const gray = adaptInputChannels(w, D, 3, 1, P)!;
  const patch = [0.1, 0.7, -0.4, 0.3];
  for (let o = 0; o < D; o++) {
    let rgb = 0;
    let g = 0;
    for (let c = 0; c < 3; c++) for (let k = 0; k < P * P; k++) rgb += w[(o * 3 + c) * P * P + k]! * patch[k]!;
    for (let k = 0; k < P * P; k++) g += gray[o * P * P + k]! * patch[k]!;
    assert.ok(Math.abs(rgb - g) < 1e-6, `output ${o}`);
  }
  const six = adaptInputChannels(w, D, 3, 6, P)!;
  assert.equal(six[(1 * 6 + 4) * P * P + 2], (w[(1 * 3 + 1) * P * P + 2]! * 3) / 6);
  assert.equal(adaptInputChannels(w, D, 2, 3, P), null);
});
