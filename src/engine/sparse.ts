/**
 * Products with a k-sparse matrix S (B,F): K entries per row, given as column indices `idx` (B,K)
 * int32 and values `coef` (B,K) (an entry whose value is 0 is absent). The top-k SAE's code is such
 * a matrix (k of F latents per sample), so its decode and gradients need B K D multiply-adds instead
 * of B F D (docs/design.md "Engine", "Sparse autoencoder"):
 *
 *   kSparseMatMul   (B,D) = S W + bias                    W (F,D)     the decode
 *   kSparseDots     (B,K) = A_b · W[idx_bj] where coef > 0  A (B,D)     the code's gradient
 *   kSparseMatMulT  (F,D) = S^T R, and S's column sums and nonzero counts (F)   the weight gradients
 *
 * kSparseMatMulT first transposes S into rows by column (a counting sort, in JS), so that every
 * product is a gather of whole rows into one output row: no scattered read-modify-write.
 * Registered as tfjs kernels for the wasm backend only, working in place on the heap; the loops run
 * as the SIMD kernels of sparse_kernels.wat (loaded lazily from the .wasm next to this file) when the
 * width D is a multiple of 4, else as the JS loops below (also under HEADSTEER_SIMD=0).
 * Legend: B rows of S, F columns of S, K entries per row, D width of the dense operand.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { simdDisabledByEnv } from './simd.js';
import { wasmBackend, type KernelArgs, type WasmBackend } from './wasm_backend.js';

const MATMUL = 'HeadsteerKSparseMatMul';
const MATMUL_T = 'HeadsteerKSparseMatMulT';
const DOTS = 'HeadsteerKSparseDots';

/** The module's exports; pointers are heap byte offsets, sizes element counts. */
interface SparseSimd {
  spmm_rows(ptr: number, col: number, coef: number, rhs: number, bias: number, hasBias: number, out: number, rows: number, d: number): void;
  masked_dots(a: number, rhs: number, col: number, coef: number, out: number, rows: number, k: number, d: number): void;
  topk_relu_sparse(src: number, values: number, indices: number, rows: number, cols: number, kk: number): void;
}

let simdModule: SparseSimd | null | undefined; // undefined: not tried yet; null: unavailable

/** The SIMD kernels, compiled on first use against the heap; undefined when absent or disabled. */
function sparseSimd(module: WasmBackend['wasm']): SparseSimd | undefined {
  if (simdDisabledByEnv()) return undefined;
  if (simdModule === undefined) {
    const memory = module.asm?.memory;
    const file = new URL('./sparse_kernels.wasm', import.meta.url);
    let bytes: Uint8Array<ArrayBuffer> | undefined;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch {
      bytes = undefined;
    }
    if (!(memory instanceof WebAssembly.Memory) || bytes === undefined) {
      simdModule = null;
    } else {
      try {
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        simdModule = instance.exports as unknown as SparseSimd;
      } catch (err) {
        throw new UserError(
          `${decodeURIComponent(file.pathname)}: not a usable WebAssembly module (${(err as Error).message}); rebuild it with \`npm run build\``,
        );
      }
    }
  }
  return simdModule ?? undefined;
}

function offsetOf(backend: WasmBackend, t: tf.TensorInfo, name: string): number {
  const off = backend.dataIdMap.get(t.dataId)?.memoryOffset;
  if (off === undefined) throw new Error(`${name}: tensor is not on the wasm heap`);
  return off;
}

function input(args: KernelArgs, name: string, kernel: string, dtype: 'float32' | 'int32', rank: number): tf.TensorInfo {
  const t = args.inputs[name];
  if (t == null || t.dtype !== dtype || t.shape.length !== rank) throw new Error(`${kernel}: input ${name} must be ${dtype} of rank ${rank}`);
  return t;
}

/** Heap scratch of `bytes` for `f` (malloc'd, 16-byte aligned, freed after). */
function withScratch<T>(backend: WasmBackend, bytes: number, f: (ptr: number) => T): T {
  const raw = backend.wasm._malloc(bytes + 16);
  try {
    return f((raw + 15) & ~15);
  } finally {
    backend.wasm._free(raw);
  }
}

/** Every index in [0, n); a bad one would read outside W. */
function checkIndices(idx: Int32Array, n: number, kernel: string): void {
  for (let t = 0; t < idx.length; t++) {
    const i = idx[t]!;
    if (!(i >= 0 && i < n)) throw new RangeError(`${kernel}: index ${i} is not in [0, ${n - 1}]`);
  }
}

/** JS twin of spmm_rows: out[r] = bias + Σ_{t in [ptr[r], ptr[r+1])} coef[t] rhs[col[t]]. */
function spmmRows(
  ptr: Int32Array,
  col: Int32Array,
  coef: Float32Array,
  rhs: Float32Array,
  bias: Float32Array | undefined,
  out: Float32Array,
  rows: number,
  d: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    if (bias === undefined) out.fill(0, o, o + d);
    else out.set(bias.subarray(0, d), o);
    for (let t = ptr[r]!; t < ptr[r + 1]!; t++) {
      const c = coef[t]!;
      const p = col[t]! * d;
      for (let i = 0; i < d; i++) out[o + i]! += c * rhs[p + i]!;
    }
  }
}

/** JS twin of masked_dots: out[r, j] = coef[r, j] > 0 ? a[r] · rhs[col[r, j]] : 0. */
function maskedDots(a: Float32Array, rhs: Float32Array, col: Int32Array, coef: Float32Array, out: Float32Array, rows: number, k: number, d: number): void {
  for (let t = 0; t < rows * k; t++) {
    if (!(coef[t]! > 0)) {
      out[t] = 0;
      continue;
    }
    const o = Math.floor(t / k) * d;
    const p = col[t]! * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += a[o + i]! * rhs[p + i]!;
    out[t] = s;
  }
}

/** (B,D) = S W + bias: inputs idx, coef, w (F,D) and optionally bias (D). */
function matMulKernel(args: KernelArgs): tf.TensorInfo {
  const backend = wasmBackend(args.backend);
  const idx = input(args, 'idx', MATMUL, 'int32', 2);
  const coef = input(args, 'coef', MATMUL, 'float32', 2);
  const w = input(args, 'w', MATMUL, 'float32', 2);
  const bias = args.inputs['bias'] == null ? undefined : input(args, 'bias', MATMUL, 'float32', 1);
  const [b, k] = idx.shape as [number, number];
  const [f, d] = w.shape as [number, number];
  const out = backend.makeOutput([b, d], 'float32');
  if (b * d === 0) return out;
  const kernels = d % 4 === 0 ? sparseSimd(backend.wasm) : undefined;
  return withScratch(backend, 4 * (b + 1), (ptrOff) => {
    const heap = backend.wasm.HEAPU8.buffer; // after the allocations, which may grow the heap
    const ptr = new Int32Array(heap, ptrOff, b + 1);
    for (let r = 0; r <= b; r++) ptr[r] = r * k;
    const idxOff = offsetOf(backend, idx, MATMUL);
    checkIndices(new Int32Array(heap, idxOff, b * k), f, MATMUL);
    const [coefOff, wOff, outOff] = [coef, w, out].map((t) => offsetOf(backend, t, MATMUL)) as [number, number, number];
    const biasOff = bias === undefined ? 0 : offsetOf(backend, bias, MATMUL);
    if (kernels !== undefined) {
      kernels.spmm_rows(ptrOff, idxOff, coefOff, wOff, biasOff, bias === undefined ? 0 : 1, outOff, b, d);
    } else {
      const f32 = (off: number, n: number): Float32Array => new Float32Array(heap, off, n);
      spmmRows(
        ptr,
        new Int32Array(heap, idxOff, b * k),
        f32(coefOff, b * k),
        f32(wOff, f * d),
        bias === undefined ? undefined : f32(biasOff, d),
        f32(outOff, b * d),
        b,
        d,
      );
    }
    return out;
  });
}

/** (B,K) masked dots: inputs a (B,D), w (F,D), idx, coef. */
function dotsKernel(args: KernelArgs): tf.TensorInfo {
  const backend = wasmBackend(args.backend);
  const a = input(args, 'a', DOTS, 'float32', 2);
  const w = input(args, 'w', DOTS, 'float32', 2);
  const idx = input(args, 'idx', DOTS, 'int32', 2);
  const coef = input(args, 'coef', DOTS, 'float32', 2);
  const [b, k] = idx.shape as [number, number];
  const [f, d] = w.shape as [number, number];
  const out = backend.makeOutput([b, k], 'float32');
  if (b * k === 0) return out;
  const heap = backend.wasm.HEAPU8.buffer;
  const [aOff, wOff, idxOff, coefOff, outOff] = [a, w, idx, coef, out].map((t) => offsetOf(backend, t, DOTS)) as [number, number, number, number, number];
  const col = new Int32Array(heap, idxOff, b * k);
  checkIndices(col, f, DOTS);
  const kernels = d % 4 === 0 ? sparseSimd(backend.wasm) : undefined;
  if (kernels !== undefined) {
    kernels.masked_dots(aOff, wOff, idxOff, coefOff, outOff, b, k, d);
  } else {
    const f32 = (off: number, n: number): Float32Array => new Float32Array(heap, off, n);
    maskedDots(f32(aOff, b * d), f32(wOff, f * d), col, f32(coefOff, b * k), f32(outOff, b * k), b, k, d);
  }
  return out;
}

/**
 * S (B,F) transposed into rows by column, skipping zero entries: for column c, entries
 * [ptr[c], ptr[c+1]) hold the row (`row`) and value (`val`) of each entry, rows ascending. Also the
 * columns' sums of values (float64) and entry counts.
 */
function transposeKSparse(
  idx: Int32Array,
  coef: Float32Array,
  k: number,
  n: number,
  out: { ptr: Int32Array; row: Int32Array; val: Float32Array; sums: Float32Array; counts: Float32Array },
): void {
  const { ptr, row, val, sums, counts } = out;
  const next = new Int32Array(n + 1);
  for (let t = 0; t < idx.length; t++) if (coef[t] !== 0) next[idx[t]! + 1]! += 1;
  for (let c = 0; c < n; c++) {
    counts[c] = next[c + 1]!;
    next[c + 1]! += next[c]!;
  }
  ptr.set(next);
  const acc = new Float64Array(n);
  for (let t = 0; t < idx.length; t++) {
    const v = coef[t]!;
    if (v === 0) continue;
    const c = idx[t]!;
    const e = next[c]!++;
    row[e] = Math.floor(t / k);
    val[e] = v;
    acc[c]! += v;
  }
  sums.set(acc);
}

/** out (cols, rows) = src (rows, cols) transposed, 16 rows per pass so that each output run fills a cache line. */
function transposeInto(src: Float32Array, out: Float32Array, rows: number, cols: number): void {
  for (let r0 = 0; r0 < rows; r0 += 16) {
    const r1 = Math.min(r0 + 16, rows);
    for (let c = 0; c < cols; c++) {
      const o = c * rows;
      for (let r = r0; r < r1; r++) out[o + r] = src[r * cols + c]!;
    }
  }
}

/**
 * (F,D) = S^T R, or its transpose (D,F) under attr `transposed`, with S's column sums and counts (F):
 * inputs idx, coef, rhs (B,D); attr n = F.
 */
function matMulTKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = wasmBackend(args.backend);
  const idx = input(args, 'idx', MATMUL_T, 'int32', 2);
  const coef = input(args, 'coef', MATMUL_T, 'float32', 2);
  const rhs = input(args, 'rhs', MATMUL_T, 'float32', 2);
  const n = args.attrs?.['n'] as number;
  const transposed = args.attrs?.['transposed'] === true;
  const [b, k] = idx.shape as [number, number];
  const d = rhs.shape[1]!;
  if (rhs.shape[0] !== b) throw new Error(`${MATMUL_T}: rhs has ${rhs.shape[0]} rows, expected ${b}`);
  const outs = [backend.makeOutput(transposed ? [d, n] : [n, d], 'float32'), backend.makeOutput([n], 'float32'), backend.makeOutput([n], 'float32')];
  const nnz = b * k;
  const kernels = d % 4 === 0 ? sparseSimd(backend.wasm) : undefined;
  const ptrBytes = (4 * (n + 1) + 15) & ~15;
  const csrBytes = (ptrBytes + 8 * nnz + 15) & ~15;
  return withScratch(backend, csrBytes + (transposed ? 4 * n * d : 0), (scratch) => {
    const heap = backend.wasm.HEAPU8.buffer; // after the allocations, which may grow the heap
    const [idxOff, coefOff, rhsOff, outOff, sumsOff, countsOff] = [idx, coef, rhs, ...outs].map((t) => offsetOf(backend, t, MATMUL_T)) as number[];
    const ptrOff = scratch;
    const rowOff = ptrOff + ptrBytes;
    const valOff = rowOff + 4 * nnz;
    const productOff = transposed ? scratch + csrBytes : outOff!; // (F,D)
    const idxView = new Int32Array(heap, idxOff!, nnz);
    checkIndices(idxView, n, MATMUL_T);
    const csr = {
      ptr: new Int32Array(heap, ptrOff, n + 1),
      row: new Int32Array(heap, rowOff, nnz),
      val: new Float32Array(heap, valOff, nnz),
      sums: new Float32Array(heap, sumsOff!, n),
      counts: new Float32Array(heap, countsOff!, n),
    };
    transposeKSparse(idxView, new Float32Array(heap, coefOff!, nnz), k, n, csr);
    const product = new Float32Array(heap, productOff, n * d);
    if (kernels !== undefined) {
      kernels.spmm_rows(ptrOff, rowOff, valOff, rhsOff!, 0, 0, productOff, n, d);
    } else {
      spmmRows(csr.ptr, csr.row, csr.val, new Float32Array(heap, rhsOff!, b * d), undefined, product, n, d);
    }
    if (transposed) transposeInto(product, new Float32Array(heap, outOff!, n * d), n, d);
    return outs;
  });
}

/** Whether the k-sparse kernels serve the active backend (wasm); registers them on first call. */
export function kSparseAvailable(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  for (const [kernelName, kernelFunc] of [
    [MATMUL, matMulKernel],
    [MATMUL_T, matMulTKernel],
    [DOTS, dotsKernel],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm') === undefined) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  }
  return true;
}

/**
 * ReLU(TopK_kk) of each row of x (B,F) into values (B,kk) and indices (B,kk) int32 by the SIMD kernel,
 * on heap byte offsets of the active wasm backend, kk <= F. Returns false (nothing written) when the
 * kernels are unavailable. The selection rule, its JS twin and the tfjs kernel that calls this are
 * src/sae/topk_kernel.ts's.
 */
export function topkReluSparseSimd(x: number, values: number, indices: number, rows: number, cols: number, kk: number): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const kernels = sparseSimd(wasmBackend(tf.backend()).wasm);
  if (kernels === undefined) return false;
  kernels.topk_relu_sparse(x, values, indices, rows, cols, kk);
  return true;
}

/** Whether the k-sparse kernels serve the active backend as SIMD code for width `d` (else JS loops, ~20x slower). */
export function kSparseSimdAvailable(d: number): boolean {
  return kSparseAvailable() && d % 4 === 0 && sparseSimd(wasmBackend(tf.backend()).wasm) !== undefined;
}

function requireKernels(): void {
  if (!kSparseAvailable()) throw new Error(`the k-sparse kernels need the wasm backend, not ${tf.getBackend()}`);
}

/** x (B,D) = S W (F,D) + bias (D, optional), S given by idx (B,K) int32 and coef (B,K). */
export function kSparseMatMul(idx: tf.Tensor2D, coef: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  requireKernels();
  const inputs: tf.NamedTensorMap = bias === undefined ? { idx, coef, w } : { idx, coef, w, bias };
  return tf.engine().runKernel<tf.Tensor2D>(MATMUL, inputs, {});
}

/** g (B,K): g_bj = a_b (B,D) · w[idx_bj] (F,D) where coef_bj > 0, else 0. */
export function kSparseDots(a: tf.Tensor2D, w: tf.Tensor2D, idx: tf.Tensor2D, coef: tf.Tensor2D): tf.Tensor2D {
  requireKernels();
  return tf.engine().runKernel<tf.Tensor2D>(DOTS, { a, w, idx, coef }, {});
}

/**
 * S^T R: out (F,D) with S (B,F) given by idx, coef (B,K) and R (B,D), or (S^T R)^T (D,F) when
 * `transposed`; also S's column sums and nonzero counts (F).
 */
export function kSparseMatMulT(
  idx: tf.Tensor2D,
  coef: tf.Tensor2D,
  rhs: tf.Tensor2D,
  n: number,
  transposed = false,
): { out: tf.Tensor2D; sums: tf.Tensor1D; counts: tf.Tensor1D } {
  requireKernels();
  const [out, sums, counts] = tf.engine().runKernel(MATMUL_T, { idx, coef, rhs }, { n, transposed }) as unknown as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
  return { out, sums, counts };
}
