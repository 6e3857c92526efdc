/**
 * Replacements for two tfjs-backend-wasm 4.22 kernels that a training step calls hundreds of times:
 * - `Identity` (tf.clone, and every tensor the autograd tape or a customGrad saves) copies the
 *   whole buffer on wasm; here it shares the buffer by reference count, as the cpu backend's
 *   Identity and the wasm backend's own Reshape already do (tensors are immutable in tfjs).
 * - `Sum` over the leading axes (the bias gradient of every Linear: (rows, out) -> (out)) is
 *   transposed first on wasm and then reduced, ~5 ns/element; here it is one pass of column sums
 *   into float64 accumulators, rounded once to float32. Every other Sum goes to the original.
 * Register after the wasm backend is initialised; the returned function restores the originals.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  incRef(dataId: object): void;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function identity(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const x = args.inputs['x'];
    if (x === undefined || x === null || x.dtype === 'string') return original(args);
    (args.backend as unknown as WasmBackend).incRef(x.dataId);
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
      acc[j] = (acc[j] as number) + (x[o + j] as number) + (x[o + cols + j] as number) +
        (x[o + 2 * cols + j] as number) + (x[o + 3 * cols + j] as number);
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
    const backend = args.backend as unknown as WasmBackend;
    const rest = x.shape.slice(k);
    const rows = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
    const cols = rest.reduce((p, d) => p * d, 1);
    const keep = args.attrs?.['keepDims'] === true;
    const out = backend.makeOutput(keep ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest, 'float32');
    if (cols === 0) return out;
    // Views only now: makeOutput may have grown wasm memory and detached the previous buffer.
    const heap = backend.wasm.HEAPU8.buffer;
    const xv = new Float32Array(heap, backend.dataIdMap.get(x.dataId)?.memoryOffset ?? 0, rows * cols);
    const ov = new Float32Array(heap, backend.dataIdMap.get(out.dataId)?.memoryOffset ?? 0, cols);
    sumLeading(xv, ov, rows, cols);
    return out;
  };
}

/**
 * Swap in the Identity and leading-axes Sum kernels above for the wasm backend.
 * @returns a function that restores the kernels registered before this call.
 */
export function registerWasmKernels(): () => void {
  const replaced: tf.KernelConfig[] = [];
  for (const [name, build] of [[tf.Identity, identity], [tf.Sum, sum]] as const) {
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
