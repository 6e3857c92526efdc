/**
 * The parts of tfjs-backend-wasm's `BackendWasm` (untyped to us) that headsteer's kernels touch, and
 * the argument type of a kernel function: declared once for every kernel file of the engine.
 */
import * as tf from '@tensorflow/tfjs';
import type { EmscriptenModule } from './simd.js';

export interface WasmBackend {
  /** The Emscripten module: its heap, and malloc/free for scratch space. */
  wasm: EmscriptenModule & { HEAPU8: Uint8Array };
  /** Where each tensor lives: a byte offset into the heap, and how many tensors share that storage. */
  dataIdMap: { get(dataId: object): { memoryOffset: number; refCount: number } | undefined };
  /** A new output tensor's storage (uninitialised heap memory). */
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
}

/** What tfjs passes a kernel function. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The wasm backend behind a kernel's `args.backend` or `tf.backend()`. */
export function wasmBackend(backend: object): WasmBackend {
  return backend as WasmBackend;
}

/**
 * Copy float32 tensor `t`'s values into `out` from element `at`: straight from the wasm heap (one copy),
 * else through `dataSync` (which copies once more on the wasm backend).
 */
export function copyInto(t: tf.Tensor, out: Float32Array, at: number): void {
  const backend = tf.getBackend() === 'wasm' ? wasmBackend(tf.backend()) : undefined;
  const data = backend?.dataIdMap.get(t.dataId);
  if (backend === undefined || data === undefined || t.dtype !== 'float32') out.set(t.dataSync() as Float32Array, at);
  else out.set(new Float32Array(backend.wasm.HEAPU8.buffer, data.memoryOffset, t.size), at);
}
