/**
 * A fused ReLU(TopK_k(.)) row kernel for tfjs-backend-wasm, run on the wasm heap in place: the SIMD
 * selection of engine/sparse_kernels.wat when loaded, else the JS heap below.
 *
 * Why: tf.topk on (4096, 3072) costs about as much as one of the SAE's matmuls on this machine
 * (~140 ms, it sorts whole rows), and turning its (values, indices) back into a dense code needs a
 * scatter on top. Because ReLU follows TopK, only positive entries can survive, so each row needs
 * just a bounded min-heap of the k largest *positive* values: one read of the row, ~k ln(F/k) heap
 * updates, and a write of k values into a zeroed output. Registered under its own kernel name in
 * tfjs's registry for the wasm backend only; other backends use the tfjs-ops path in topk.ts.
 * A twin kernel writes the selection as a k-sparse code (values and column indices, (B,K) each) for the
 * sparse training step (sparse_grads.ts). The SIMD kernel makes the same selection as the JS heap, in
 * the same heap order.
 *
 * Ties: the order is (value descending, column ascending), as a stable sort would give, so exactly
 * min(k, #positive) entries are kept per row and equal values keep the lower column.
 * Legend: B rows (batch), F columns (latents), K kept per row.
 */
import * as tf from '@tensorflow/tfjs';
import { topkReluSparseSimd } from '../engine/sparse.js';
import { wasmBackend, type WasmBackend } from '../engine/wasm_backend.js';

/** Name of the kernel in tfjs's registry (inputs `{ x }`, attrs `{ k }`). */
export const TOPK_RELU_KERNEL = 'HeadsteerTopKRelu';

/** The sparse-output twin (inputs `{ x }`, attrs `{ k }`; outputs values (B,K) float32, indices (B,K) int32). */
export const TOPK_RELU_SPARSE_KERNEL = 'HeadsteerTopKReluSparse';

const f32Bits = new Float32Array(1);
const i32Bits = new Int32Array(f32Bits.buffer);

/**
 * Where a row's entry bar starts: the largest float32 below lb, where lb is the smallest of the maxima
 * of kk groups of the row's entries (groups of floor(F / kk) from the start), or 0 when that is not
 * positive or the groups are shorter than 8. The kk group maxima are kk entries >= lb, so the kk-th
 * largest entry is >= lb and no entry below lb can be kept; entries equal to lb still pass. On random
 * rows of 3072 normal entries with k = 64 it cuts the heap updates from 266 to 159 a row (simulated).
 * sparse_kernels.wat computes the same value.
 */
function startBar(src: Float32Array, base: number, cols: number, kk: number): number {
  const g = Math.floor(cols / kk);
  if (g < 8) return 0;
  let lb = Number.POSITIVE_INFINITY;
  for (let q = 0; q < kk; q++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let i = base + q * g; i < base + (q + 1) * g; i++) {
      const v = src[i]!;
      if (v > m) m = v; // NaN never wins
    }
    if (m < lb) lb = m;
  }
  if (!(lb > 0)) return 0;
  f32Bits[0] = lb;
  i32Bits[0]! -= 1; // the next float32 down (lb is a positive float32)
  return f32Bits[0]!;
}

/**
 * The kept entries of row `base / cols` of src: up to kk (value, column) pairs, written to hv, hi in
 * heap order (not sorted). Returns how many were kept. Entries that are not > 0 (including NaN) are
 * never kept.
 */
function selectRow(src: Float32Array, base: number, cols: number, kk: number, hv: Float32Array, hi: Int32Array): number {
  // Min-heap of the kept entries ordered by (value asc, column desc): the root is the entry that
  // loses first, i.e. the smallest value and, among equal values, the highest column.
  let n = 0;
  // Entry bar: until the heap is full, just below a lower bound of the kk-th largest entry (or 0: ReLU
  // drops the rest), then the root's value. One well-predicted compare rejects almost every entry.
  let bar = startBar(src, base, cols, kk);
  for (let j = 0; j < cols; j++) {
    const v = src[base + j]!;
    if (!(v > bar)) continue; // also drops NaN
    if (n < kk) {
      // Sift up. A new column is the highest seen so far, so on equal values it loses first
      // and moves above its parent.
      let c = n++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (hv[p]! < v) break;
        hv[c] = hv[p]!;
        hi[c] = hi[p]!;
        c = p;
      }
      hv[c] = v;
      hi[c] = j;
      if (n === kk) bar = hv[0]!;
    } else {
      // v beats the root (strictly: on equal values the root's lower column wins). Replace the
      // root and sift down.
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= kk) break;
        let m = l;
        const rr = l + 1;
        if (rr < kk && (hv[rr]! < hv[l]! || (hv[rr] === hv[l] && hi[rr]! > hi[l]!))) m = rr;
        if (v <= hv[m]!) break; // on equal values j (the highest column) loses first
        hv[c] = hv[m]!;
        hi[c] = hi[m]!;
        c = m;
      }
      hv[c] = v;
      hi[c] = j;
      bar = hv[0]!;
    }
  }
  return n;
}

/**
 * dst (B,F) = ReLU(TopK_k(src (B,F))) row by row; `dst` must not alias `src`.
 * Entries that are not > 0 (including NaN) are never kept.
 */
export function topkReluRows(src: Float32Array, dst: Float32Array, rows: number, cols: number, k: number): void {
  const kk = Math.min(k, cols);
  if (kk <= 0) {
    dst.fill(0, 0, rows * cols);
    return;
  }
  const hv = new Float32Array(kk);
  const hi = new Int32Array(kk);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const n = selectRow(src, base, cols, kk, hv, hi);
    dst.fill(0, base, base + cols); // row by row: the row is still in cache for the scatter
    for (let t = 0; t < n; t++) dst[base + hi[t]!] = hv[t]!;
  }
}

/**
 * The same selection as a k-sparse code: values (B,K) and columns (B,K) of the kept entries, in no
 * particular order within a row; a row with fewer than K positive entries ends in (0, column 0) slots.
 * K = min(k, F).
 */
export function topkReluSparseRows(src: Float32Array, values: Float32Array, indices: Int32Array, rows: number, cols: number, k: number): void {
  const kk = Math.min(k, cols);
  for (let r = 0; r < rows; r++) {
    const hv = values.subarray(r * kk, (r + 1) * kk);
    const hi = indices.subarray(r * kk, (r + 1) * kk);
    const n = selectRow(src, r * cols, cols, kk, hv, hi);
    hv.fill(0, n);
    hi.fill(0, n);
  }
}

/** The kernel body: reads x and writes the output on the wasm heap, no copies. */
function topkReluKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = args.inputs['x'];
  const k = args.attrs?.['k'];
  if (x === undefined || typeof k !== 'number') throw new Error(`${TOPK_RELU_KERNEL}: needs input x and attr k`);
  if (x.dtype !== 'float32' || x.shape.length !== 2) throw new Error(`${TOPK_RELU_KERNEL}: x must be float32 (B,F), got ${x.dtype} [${x.shape.join(',')}]`);
  const backend = wasmBackend(args.backend);
  const [rows, cols] = x.shape as [number, number];
  const out = backend.makeOutput([rows, cols], 'float32');
  const size = rows * cols;
  if (size === 0) return out;
  const xOff = backend.dataIdMap.get(x.dataId)?.memoryOffset;
  const oOff = backend.dataIdMap.get(out.dataId)?.memoryOffset;
  if (xOff === undefined || oOff === undefined || xOff % 4 !== 0 || oOff % 4 !== 0) {
    throw new Error(`${TOPK_RELU_KERNEL}: tensors are not float-aligned on the wasm heap`);
  }
  if (!topkReluDenseSimd(backend, xOff, oOff, rows, cols, k)) {
    // View taken after makeOutput: allocation may have grown (and replaced) the heap's buffer.
    const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
    topkReluRows(heap.subarray(xOff / 4, xOff / 4 + size), heap.subarray(oOff / 4, oOff / 4 + size), rows, cols, k);
  }
  return out;
}

/**
 * The dense kernel's work through the SIMD selection (sparse_kernels.wat: the same entries as
 * `selectRow`), scattered into the zeroed output: in the default run's steer stage (768 latents, k 16)
 * 3.7 s of CPU against the JS heap's 6.5 s (one profile each). Returns false (nothing written) when the
 * SIMD kernels are unavailable.
 */
function topkReluDenseSimd(backend: WasmBackend, xOff: number, oOff: number, rows: number, cols: number, k: number): boolean {
  const kk = Math.min(k, cols);
  if (kk <= 0) return false;
  const values = backend.makeOutput([rows, kk], 'float32');
  const indices = backend.makeOutput([rows, kk], 'int32');
  try {
    const [vOff, iOff] = [values, indices].map((t) => backend.dataIdMap.get(t.dataId)?.memoryOffset ?? -1) as [number, number];
    if (!topkReluSparseSimd(xOff, vOff, iOff, rows, cols, kk)) return false;
    // Views taken after the allocations, which may have grown (and replaced) the heap's buffer.
    const heap = backend.wasm.HEAPU8.buffer;
    const [v, idx, dst] = [new Float32Array(heap, vOff, rows * kk), new Int32Array(heap, iOff, rows * kk), new Float32Array(heap, oOff, rows * cols)];
    dst.fill(0);
    for (let r = 0; r < rows; r++) {
      for (let t = r * kk; t < (r + 1) * kk; t++) if (v[t]! > 0) dst[r * cols + idx[t]!] = v[t]!; // kept entries are > 0; empty slots are (0, 0)
    }
    return true;
  } finally {
    backend.disposeData(values.dataId);
    backend.disposeData(indices.dataId);
  }
}

/** The sparse-output kernel body: values and indices written on the wasm heap. */
function topkReluSparseKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const x = args.inputs['x'];
  const k = args.attrs?.['k'];
  if (x === undefined || typeof k !== 'number') throw new Error(`${TOPK_RELU_SPARSE_KERNEL}: needs input x and attr k`);
  if (x.dtype !== 'float32' || x.shape.length !== 2)
    throw new Error(`${TOPK_RELU_SPARSE_KERNEL}: x must be float32 (B,F), got ${x.dtype} [${x.shape.join(',')}]`);
  const backend = wasmBackend(args.backend);
  const [rows, cols] = x.shape as [number, number];
  const kk = Math.min(k, cols);
  const values = backend.makeOutput([rows, kk], 'float32');
  const indices = backend.makeOutput([rows, kk], 'int32');
  if (rows * kk === 0) return [values, indices];
  const [xOff, vOff, iOff] = [x, values, indices].map((t) => backend.dataIdMap.get(t.dataId)?.memoryOffset ?? -1) as [number, number, number];
  if (xOff % 4 !== 0 || vOff % 4 !== 0 || iOff % 4 !== 0 || Math.min(xOff, vOff, iOff) < 0) {
    throw new Error(`${TOPK_RELU_SPARSE_KERNEL}: tensors are not aligned on the wasm heap`);
  }
  if (topkReluSparseSimd(xOff, vOff, iOff, rows, cols, kk)) return [values, indices];
  // Views taken after makeOutput: allocation may have grown (and replaced) the heap's buffer.
  const heap = backend.wasm.HEAPU8.buffer;
  topkReluSparseRows(new Float32Array(heap, xOff, rows * cols), new Float32Array(heap, vOff, rows * kk), new Int32Array(heap, iOff, rows * kk), rows, cols, k);
  return [values, indices];
}

/**
 * Whether the fused kernel serves the active backend; registers it (and its sparse-output twin) for
 * 'wasm' on first call (idempotent, so importing this module has no side effect).
 */
export function topkReluKernelAvailable(): boolean {
  const backend = tf.getBackend();
  if (backend !== 'wasm') return tf.getKernel(TOPK_RELU_KERNEL, backend) !== undefined;
  if (tf.getKernel(TOPK_RELU_KERNEL, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: TOPK_RELU_KERNEL, backendName: 'wasm', kernelFunc: topkReluKernel });
    tf.registerKernel({ kernelName: TOPK_RELU_SPARSE_KERNEL, backendName: 'wasm', kernelFunc: topkReluSparseKernel as tf.KernelFunc });
  }
  return true;
}

/**
 * ReLU(TopK_k(pre (B,F))) as a k-sparse code: values (B,K) and column indices (B,K) int32, K = min(k, F);
 * empty slots hold (0, 0). No gradient (the sparse training step of sparse_grads.ts derives its own).
 * Wasm backend only.
 */
export function topkReluSparse(pre: tf.Tensor2D, k: number): { values: tf.Tensor2D; indices: tf.Tensor2D } {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`top-k needs an integer k >= 1, got ${k}`);
  if (tf.getBackend() !== 'wasm' || !topkReluKernelAvailable()) throw new Error(`${TOPK_RELU_SPARSE_KERNEL} needs the wasm backend, not ${tf.getBackend()}`);
  const [values, indices] = tf.engine().runKernel(TOPK_RELU_SPARSE_KERNEL, { x: pre }, { k }) as unknown as [tf.Tensor2D, tf.Tensor2D];
  return { values, indices };
}
