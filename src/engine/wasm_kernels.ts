/**
 * Replacements for tfjs-backend-wasm 4.22 kernels that a training step calls hundreds of times:
 * - `Identity` (tf.clone, and every tensor the autograd tape or a customGrad saves) copies the
 *   whole buffer on wasm; here it shares the buffer by reference count, as the cpu backend's
 *   Identity and the wasm backend's own Reshape already do (tensors are immutable in tfjs).
 * - `Sum` over the leading axes (the bias gradient of every Linear: (rows, out) -> (out)) is
 *   transposed first on wasm and then reduced, ~5 ns/element; here it is one pass of column sums
 *   into float64 accumulators, rounded once to float32 (the SIMD kernel of simd.ts when loaded, else
 *   `sumLeading`). Every other Sum goes to the original.
 * - `Slice` copies its whole input out of the heap before slicing; here only the slice is copied.
 * - `SplitV` slices each part with that Slice; here one copy per contiguous block.
 * - `GatherV2` moves one element at a time (~50 ns/element under load: 170 ms to reorder a batch of 256
 *   (65, 192) images); here one `copyWithin` per gathered slice (the head-skipping forward regroups its
 *   batch by mask pattern at every layer, src/model/skip.ts).
 * Register after the wasm backend is initialised; the returned function restores the originals.
 */
import * as tf from '@tensorflow/tfjs';
import { simd } from './simd.js';
import { wasmBackend, type KernelArgs } from './wasm_backend.js';

function identity(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined || x === null || x.dtype === 'string') return original(args);
    wasmBackend(args.backend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** Number of leading axes `axis` reduces, or -1 unless it is exactly 0..k-1 with 0 < k < rank. */
function leadingAxes(axis: unknown, rank: number): number {
  const list = (Array.isArray(axis) ? axis : [axis]).map((a) => (typeof a === 'number' && a < 0 ? a + rank : a));
  if (list.length === 0 || list.length >= rank) return -1;
  const sorted = [...new Set(list)].sort((a, b) => Number(a) - Number(b));
  return sorted.length === list.length && sorted.every((a, i) => a === i) ? sorted.length : -1;
}

/** Column sums: x (rows, cols) -> out (cols). Four rows per pass over the float64 accumulators. */
export function sumLeading(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
  const acc = new Float64Array(cols);
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) {
      acc[j] = (acc[j] as number) + (x[o + j] as number) + (x[o + cols + j] as number) + (x[o + 2 * cols + j] as number) + (x[o + 3 * cols + j] as number);
    }
  }
  for (; r < rows; r++) {
    for (let j = 0, o = r * cols; j < cols; j++) acc[j] = (acc[j] as number) + (x[o + j] as number);
  }
  out.set(acc);
}

function sum(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined || x === null || x.dtype !== 'float32') return original(args);
    const k = leadingAxes(args.attrs?.['axis'], x.shape.length);
    if (k < 0) return original(args);
    const backend = wasmBackend(args.backend);
    const rest = x.shape.slice(k);
    const rows = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
    const cols = rest.reduce((p, d) => p * d, 1);
    const keep = args.attrs?.['keepDims'] === true;
    const out = backend.makeOutput(keep ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest, 'float32');
    if (cols === 0) return out;
    const xOffset = backend.dataIdMap.get(x.dataId)?.memoryOffset ?? 0;
    const outOffset = backend.dataIdMap.get(out.dataId)?.memoryOffset ?? 0;
    const kernels = simd();
    if (kernels !== undefined) {
      kernels.withScratch(8 * cols, (acc) => kernels.sumLeading(xOffset, outOffset, rows, cols, acc));
      return out;
    }
    // Views only now: makeOutput may have grown wasm memory and detached the previous buffer.
    const heap = backend.wasm.HEAPU8.buffer;
    sumLeading(new Float32Array(heap, xOffset, rows * cols), new Float32Array(heap, outOffset, cols), rows, cols);
    return out;
  };
}

/**
 * Slice of a float32 tensor by views on the wasm heap. tfjs-wasm's own Slice first copies the whole
 * input out of the heap (`readSync`), so taking the CLS token of a (64, 65, 192) stream cost 1.4 ms;
 * here only the sliced runs are copied, one `set` per contiguous run of the last axis.
 */
function slice(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined || x === null || x.dtype !== 'float32') return original(args);
    const parsed = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs?.['begin'] as number[], args.attrs?.['size'] as number[]);
    const begin = parsed[0] ?? [];
    const size = parsed[1] ?? [];
    const backend = wasmBackend(args.backend);
    const out = backend.makeOutput(size, 'float32');
    const total = size.reduce((p, d) => p * d, 1);
    if (total === 0) return out;
    const heap = backend.wasm.HEAPU8.buffer; // after makeOutput, which may grow the heap
    const xv = new Float32Array(
      heap,
      backend.dataIdMap.get(x.dataId)?.memoryOffset ?? 0,
      x.shape.reduce((p, d) => p * d, 1),
    );
    const ov = new Float32Array(heap, backend.dataIdMap.get(out.dataId)?.memoryOffset ?? 0, total);
    const rank = x.shape.length;
    const strides = tf.util.computeStrides(x.shape); // (rank - 1) strides; the last axis is contiguous
    const run = size[rank - 1] ?? 1;
    const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0); // position among the outer axes
    for (let o = 0; o < total; o += run) {
      let from = begin[rank - 1] ?? 0;
      for (let a = 0; a < rank - 1; a++) from += ((begin[a] ?? 0) + (idx[a] ?? 0)) * (strides[a] ?? 0);
      ov.set(xv.subarray(from, from + run), o);
      for (let a = rank - 2; a >= 0; a--) {
        idx[a] = (idx[a] ?? 0) + 1;
        if ((idx[a] as number) < (size[a] ?? 1)) break;
        idx[a] = 0;
      }
    }
    return out;
  };
}

/**
 * Gather along one axis of a float32 tensor by heap copies: x (outer, n, inner) and indices (m) ->
 * (outer, m, inner), one `copyWithin` per (outer, index) block of `inner` elements. batchDims > 0 and
 * non-float32 inputs go to the original.
 */
function gather(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    const indices = args.inputs['indices'];
    const batchDims = (args.attrs?.['batchDims'] as number | undefined) ?? 0;
    if (x == null || indices == null || x.dtype !== 'float32' || batchDims !== 0) return original(args);
    const rank = x.shape.length;
    const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0] ?? 0;
    const n = x.shape[axis] ?? 1;
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const inner = x.shape.slice(axis + 1, rank).reduce((p, d) => p * d, 1);
    const backend = wasmBackend(args.backend);
    const m = indices.shape.reduce((p, d) => p * d, 1);
    const idxBytes = backend.dataIdMap.get(indices.dataId)?.memoryOffset ?? 0;
    const idx = Int32Array.from(
      indices.dtype === 'int32' ? new Int32Array(backend.wasm.HEAPU8.buffer, idxBytes, m) : new Float32Array(backend.wasm.HEAPU8.buffer, idxBytes, m),
    );
    for (const i of idx) if (!(i >= 0 && i < n)) throw new RangeError(`gather: index ${i} is not in [0, ${n - 1}]`);
    const out = backend.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], 'float32');
    const heap = new Float32Array(backend.wasm.HEAPU8.buffer); // after makeOutput, which may grow the heap
    const from = (backend.dataIdMap.get(x.dataId)?.memoryOffset ?? 0) / 4;
    let to = (backend.dataIdMap.get(out.dataId)?.memoryOffset ?? 0) / 4;
    for (let o = 0; o < outer; o++) {
      for (const i of idx) {
        const at = from + (o * n + i) * inner;
        heap.copyWithin(to, at, at + inner);
        to += inner;
      }
    }
    return out;
  };
}

/**
 * SplitV of a float32 tensor by heap copies: x (outer, n, inner) -> one (outer, s_i, inner) per split
 * size s_i, one `copyWithin` per (outer index, output) block. tfjs-wasm's own SplitV slices each part
 * with its Slice, which copies the whole input out of the heap every time: splitting the gradient of
 * the joined q | k | v weight (192, 576) into its three parts took 3 ms.
 */
function splitV(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x == null || x.dtype !== 'float32') return original(args);
    const axis = tf.util.parseAxisParam(args.attrs?.['axis'] as number, x.shape)[0] ?? 0;
    const sizes = tf.backend_util.prepareSplitSize(x, args.attrs?.['numOrSizeSplits'] as number[] | number, axis);
    const n = x.shape[axis] ?? 1;
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const backend = wasmBackend(args.backend);
    const outs = sizes.map((s) => backend.makeOutput([...x.shape.slice(0, axis), s, ...x.shape.slice(axis + 1)], 'float32'));
    const heap = new Float32Array(backend.wasm.HEAPU8.buffer); // after makeOutput, which may grow the heap
    const from = (backend.dataIdMap.get(x.dataId)?.memoryOffset ?? 0) / 4;
    let start = 0;
    outs.forEach((out, i) => {
      const block = (sizes[i] ?? 0) * inner;
      let to = (backend.dataIdMap.get(out.dataId)?.memoryOffset ?? 0) / 4;
      for (let o = 0; o < outer; o++, to += block) {
        const at = from + (o * n + start) * inner;
        heap.copyWithin(to, at, at + block);
      }
      start += sizes[i] ?? 0;
    });
    return outs;
  };
}

/**
 * Swap in the Identity, leading-axes Sum, Slice, GatherV2 and SplitV kernels above for the wasm backend.
 * @returns a function that restores the kernels registered before this call.
 */
export function registerWasmKernels(): () => void {
  const replaced: tf.KernelConfig[] = [];
  for (const [name, build] of [
    [tf.Identity, identity],
    [tf.Sum, sum],
    [tf.Slice, slice],
    [tf.GatherV2, gather],
    [tf.SplitV, splitV],
  ] as const) {
    const previous = tf.getKernel(name, 'wasm');
    if (previous === undefined) throw new Error(`wasm backend has no ${name} kernel to replace`);
    // registerKernel warns on the console about duplicates, so remove the current one first.
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...previous, kernelFunc: build(previous.kernelFunc) });
    replaced.push(previous);
  }
  return () => {
    for (const config of replaced) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  };
}
