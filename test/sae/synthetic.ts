/**
 * A synthetic sparse dataset for SAE tests: x = offset + sum of a few of `atoms` random unit directions
 * in D dims with positive weights, plus small Gaussian noise. A top-k SAE with k >= the number of
 * active atoms can reconstruct it almost exactly.
 */
import { rng } from '../../src/random.js';

export interface Synthetic {
  x: Float32Array;
  n: number;
  d: number;
}

export function sparseDataset(n: number, d: number, atoms: number, active: number, noise: number, seed: number): Synthetic {
  const r = rng(seed, 'synthetic-sae');
  const dirs = r.fill(new Float32Array(atoms * d), 'normal');
  for (let a = 0; a < atoms; a++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += dirs[a * d + c]! ** 2;
    for (let c = 0; c < d; c++) dirs[a * d + c]! /= Math.sqrt(s);
  }
  const offset = r.fill(new Float32Array(d), 'normal');
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) x[i * d + c] = offset[c]! + noise * r.normal();
    for (let t = 0; t < active; t++) {
      const a = r.int(atoms);
      const w = 0.5 + r.uniform();
      for (let c = 0; c < d; c++) x[i * d + c]! += w * dirs[a * d + c]!;
    }
  }
  return { x, n, d };
}
