/**
 * Micro-benchmark: GFLOP/s of tfjs-wasm's XNNPACK matmul vs OpenBLAS sgemm (nblas) on the
 * shapes headsteer's ViT, its gradients, attention and the SAE produce, plus small sizes that
 * locate the dispatch threshold. Prints a markdown table.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/matmul.js [--quick]
 *
 * Both kernels run in one process: the engine starts without native kernels, then OpenBLAS is
 * registered with no threshold and unregistered around each measurement.
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadSgemm } from '../src/engine/blas.js';
import { registerNativeMatMul } from '../src/engine/matmul_kernel.js';

interface Case {
  name: string;
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
  /** tf.fused.matMul with a bias of size N. */
  bias?: boolean;
}

const CASES: Case[] = [
  { name: 'qkv d96: (2176x96)@(96x288)', a: [2176, 96], b: [96, 288] },
  { name: 'qkv d192: (8320x192)@(192x576)', a: [8320, 192], b: [192, 576] },
  { name: 'mlp d192: (8320x192)@(192x768)', a: [8320, 192], b: [192, 768] },
  { name: 'fused +bias: (8320x192)@(192x576)', a: [8320, 192], b: [192, 576], bias: true },
  { name: 'dX: (8320x576)@(192x576)^T', a: [8320, 576], b: [192, 576], transB: true },
  { name: 'dW: (8320x192)^T@(8320x576)', a: [8320, 192], b: [8320, 576], transA: true },
  { name: 'batched in (64,65,192)@(192x576)', a: [64, 65, 192], b: [192, 576] },
  { name: 'SAE enc: (64x384)@(384x3072)', a: [64, 384], b: [384, 3072] },
  { name: 'SAE dec: (64x3072)@(3072x384)', a: [64, 3072], b: [3072, 384] },
  { name: 'SAE dW: (64x3072)^T@(64x384)', a: [64, 3072], b: [64, 384], transA: true },
  { name: 'attn q@kT: 384x(65x32)@(32x65)', a: [384, 65, 32], b: [384, 65, 32], transB: true },
  { name: 'attn p@v: 384x(65x65)@(65x32)', a: [384, 65, 65], b: [384, 65, 32] },
  { name: 'attn dP: 384x(65x32)@(65x32)^T', a: [384, 65, 32], b: [384, 65, 32], transB: true },
  { name: 'attn dV: 384x(65x65)^T@(65x32)', a: [384, 65, 65], b: [384, 65, 32], transA: true },
  { name: 'attn d96: 192x(65x16)@(16x65)', a: [192, 65, 16], b: [192, 65, 16], transB: true },
  { name: 'head: (64x192)@(192x10)', a: [64, 192], b: [192, 10] },
  { name: 'gate: (64x192)@(192x6)', a: [64, 192], b: [192, 6] },
];

/** Square and batched-square sizes that bracket the per-call threshold. */
const SMALL: Case[] = [4, 8, 12, 16, 24, 32, 48, 64, 128, 256].flatMap((n) => [
  { name: `2-D ${n}x${n}x${n}`, a: [n, n], b: [n, n] },
  { name: `384 x (${n}x${n}x${n})`, a: [384, n, n], b: [384, n, n] },
]);

function flopsOf(c: Case): number {
  const r = c.a.length;
  const m = c.transA === true ? (c.a[r - 1] ?? 0) : (c.a[r - 2] ?? 0);
  const k = c.transA === true ? (c.a[r - 2] ?? 0) : (c.a[r - 1] ?? 0);
  const n = c.transB === true ? (c.b[c.b.length - 2] ?? 0) : (c.b[c.b.length - 1] ?? 0);
  const batch = c.a.slice(0, -2).reduce((p, d) => p * d, 1);
  return 2 * batch * m * n * k;
}

/** Median seconds per call over repeated timed runs (>= minTime in total). */
function timeIt(f: () => void, minTime: number): number {
  for (let i = 0; i < 2; i++) f();
  const samples: number[] = [];
  const start = performance.now();
  while (performance.now() - start < minTime * 1000 || samples.length < 5) {
    const t0 = performance.now();
    f();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN;
}

function runner(c: Case): { run: () => void; dispose: () => void } {
  const a = tf.randomNormal(c.a);
  const b = tf.randomNormal(c.b);
  const n = c.transB === true ? (c.b[c.b.length - 2] ?? 1) : (c.b[c.b.length - 1] ?? 1);
  const bias = tf.randomNormal([n]);
  const ta = c.transA === true;
  const tb = c.transB === true;
  const run = (): void => {
    // wasm kernels run synchronously inside the op call, so timing the call times the kernel.
    const y = c.bias === true ? tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias }) : tf.matMul(a, b, ta, tb);
    y.dispose();
  };
  return { run, dispose: () => tf.dispose([a, b, bias]) };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const engine = await initEngine({ native: false });
  const blas = loadSgemm();
  if (!blas.ok) throw new Error(`OpenBLAS unavailable: ${blas.reason}`);
  console.log(`${engine.notice}; OpenBLAS from ${blas.library}; ` + `OPENBLAS_NUM_THREADS=${process.env['OPENBLAS_NUM_THREADS'] ?? '(default)'}`);
  const minTime = quick ? 0.1 : 0.4;
  console.log('\n| shape | MFLOP | XNNPACK GFLOP/s | OpenBLAS GFLOP/s | speed-up |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of [...CASES, ...SMALL]) {
    const r = runner(c);
    const xnn = timeIt(r.run, minTime);
    const restore = registerNativeMatMul(blas.sgemm, { minFlopsPerCall: 0 });
    const obl = timeIt(r.run, minTime);
    restore();
    r.dispose();
    const f = flopsOf(c);
    console.log(`| ${c.name} | ${(f / 1e6).toFixed(2)} | ${(f / xnn / 1e9).toFixed(1)} | ` + `${(f / obl / 1e9).toFixed(1)} | ${(xnn / obl).toFixed(2)}x |`);
  }
}

await main();
