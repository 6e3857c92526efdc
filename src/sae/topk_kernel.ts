/**
 * A fused ReLU(TopK_k(.)) row kernel for tfjs-backend-wasm, run in JS on the wasm heap in place.
 *
 * Why: tf.topk on (4096, 3072) costs about as much as one of the SAE's matmuls on this machine
 * (~140 ms, it sorts whole rows), and turning its (values, indices) back into a dense code needs a
 * scatter on top. Because ReLU follows TopK, only positive entries can survive, so each row needs
 * just a bounded min-heap of the k largest *positive* values: one read of the row, ~k ln(F/k) heap
 * updates, and a write of k values into a zeroed output. Registered under its own kernel name in
 * tfjs's registry for the wasm backend only; other backends use the tfjs-ops path in topk.ts.
 *
 * Ties: the order is (value descending, column ascending), as a stable sort would give, so exactly
 * min(k, #positive) entries are kept per row and equal values keep the lower column.
 * Legend: B rows (batch), F columns (latents), K kept per row.
 */
import * as tf from '@tensorflow/tfjs';

/** Name of the kernel in tfjs's registry (inputs `{ x }`, attrs `{ k }`). */
export const TOPK_RELU_KERNEL = 'HeadsteerTopKRelu';

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernel touches (as in engine/matmul_kernel.ts). */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
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
  // Min-heap of the kept entries ordered by (value asc, column desc): the root is the entry that
  // loses first, i.e. the smallest value and, among equal values, the highest column.
  const hv = new Float32Array(kk);
  const hi = new Int32Array(kk);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let n = 0;
    // Entry bar: 0 until the heap is full (ReLU drops the rest), then the root's value. One
    // well-predicted compare rejects almost every entry once the heap has filled.
    let bar = 0;
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
    dst.fill(0, base, base + cols); // row by row: the row is still in cache for the scatter
    for (let t = 0; t < n; t++) dst[base + hi[t]!] = hv[t]!;
  }
}

/** The kernel body: reads x and writes the output on the wasm heap, no copies. */
function topkReluKernel(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = args.inputs['x'];
  const k = args.attrs?.['k'];
  if (x === undefined || typeof k !== 'number') throw new Error(`${TOPK_RELU_KERNEL}: needs input x and attr k`);
  if (x.dtype !== 'float32' || x.shape.length !== 2) throw new Error(`${TOPK_RELU_KERNEL}: x must be float32 (B,F), got ${x.dtype} [${x.shape.join(',')}]`);
  const backend = args.backend as WasmBackend;
  const [rows, cols] = x.shape as [number, number];
  const out = backend.makeOutput([rows, cols], 'float32');
  const size = rows * cols;
  if (size === 0) return out;
  const xOff = backend.dataIdMap.get(x.dataId)?.memoryOffset;
  const oOff = backend.dataIdMap.get(out.dataId)?.memoryOffset;
  if (xOff === undefined || oOff === undefined || xOff % 4 !== 0 || oOff % 4 !== 0) {
    throw new Error(`${TOPK_RELU_KERNEL}: tensors are not float-aligned on the wasm heap`);
  }
  // View taken after makeOutput: allocation may have grown (and replaced) the heap's buffer.
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  topkReluRows(heap.subarray(xOff / 4, xOff / 4 + size), heap.subarray(oOff / 4, oOff / 4 + size), rows, cols, k);
  return out;
}

/**
 * Whether the fused kernel serves the active backend; registers it for 'wasm' on first call
 * (idempotent, so importing this module has no side effect).
 */
export function topkReluKernelAvailable(): boolean {
  const backend = tf.getBackend();
  if (backend !== 'wasm') return tf.getKernel(TOPK_RELU_KERNEL, backend) !== undefined;
  if (tf.getKernel(TOPK_RELU_KERNEL, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: TOPK_RELU_KERNEL, backendName: 'wasm', kernelFunc: topkReluKernel });
  }
  return true;
}
