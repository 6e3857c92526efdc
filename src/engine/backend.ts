/**
 * Engine start-up: selects TensorFlow.js's WebAssembly backend (XNNPACK, SIMD).
 * Every entry point (CLI, tests, bench) calls `initEngine()` once before building tensors.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

/** What the engine runs on, for the one-line notice the CLI prints. */
export interface EngineInfo {
  backend: string;
  matmul: string;
}

let info: EngineInfo | undefined;

/** Initialise the backend once; later calls return the same info. */
export async function initEngine(): Promise<EngineInfo> {
  if (info !== undefined) return info;
  await tf.setBackend('wasm');
  await tf.ready();
  info = { backend: tf.getBackend(), matmul: 'xnnpack' };
  return info;
}
