/**
 * Engine start-up: selects TensorFlow.js's WebAssembly backend (XNNPACK, SIMD) and, when the
 * optional native addon `nblas` loads against OpenBLAS, replaces its matmul kernels with OpenBLAS
 * sgemm working in place on the wasm heap (see matmul_kernel.ts) and adds an attention-core kernel
 * on the same sgemm (attention_kernel.ts), and two slow wasm kernels with
 * JS ones (wasm_kernels.ts); GELU and LayerNorm run as wasm SIMD kernels on the same heap (simd.ts).
 * Model code stays backend-agnostic: the swap happens only in tfjs's kernel registry.
 * Every entry point (CLI, tests, bench) calls `initEngine()` once before building tensors.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerNativeAttention } from './attention_kernel.js';
import { loadSgemm } from './blas.js';
import { fusedDisabledByEnv } from './fused.js';
import { loadSimdKernels, simdDisabledByEnv } from './simd.js';
import { registerWasmKernels } from './wasm_kernels.js';
import { DEFAULT_NATIVE_MATMUL, registerNativeMatMul, type NativeMatMulOptions } from './matmul_kernel.js';

/** What the engine runs on, for the one-line notice the CLI prints. */
export interface EngineInfo {
  /** tfjs backend name, e.g. 'wasm'. */
  backend: string;
  /** Who computes BatchMatMul / _FusedMatMul on that backend. */
  matmul: 'openblas' | 'xnnpack';
  /** Whether GELU and LayerNorm run as the wasm SIMD kernels of simd.ts (else as JS loops). */
  simdKernels: boolean;
  /**
   * One line for the CLI to print, e.g.
   * `engine: tfjs-wasm (SIMD) + OpenBLAS sgemm (nblas), GELU/LayerNorm: wasm SIMD`.
   */
  notice: string;
}

/** Start-up options; the environment variable wins over `native`. */
export interface EngineOptions {
  /**
   * Use OpenBLAS when available. `HEADSTEER_NATIVE=0` in the environment forces false.
   * @default true
   */
  native: boolean;
  /** Dispatch threshold of the native kernels. @default DEFAULT_NATIVE_MATMUL */
  matmul: NativeMatMulOptions;
}

let info: EngineInfo | undefined;

/** Whether the environment disables native kernels (`HEADSTEER_NATIVE=0|false|off`). */
export function nativeDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['HEADSTEER_NATIVE']?.trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

async function wasmLabel(): Promise<string> {
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `tfjs-wasm${simd === true ? ' (SIMD)' : ''}`;
}

/**
 * Initialise the backend once; later calls return the same info (options of later calls are
 * ignored: kernels are process-global).
 */
export async function initEngine(options: Partial<EngineOptions> = {}): Promise<EngineInfo> {
  if (info !== undefined) return info;
  await tf.setBackend('wasm');
  await tf.ready();
  const backend = tf.getBackend();
  // Pure-JS replacements (shared-buffer Identity, leading-axes Sum): no addon needed, off with HEADSTEER_FUSED=0.
  if (backend === 'wasm' && !fusedDisabledByEnv()) registerWasmKernels();
  // HEADSTEER_SIMD=0 skips loading the module (and so also a broken build of it).
  const simdKernels =
    backend === 'wasm' &&
    !simdDisabledByEnv() &&
    (await loadSimdKernels((tf.backend() as unknown as { wasm: Parameters<typeof loadSimdKernels>[0] }).wasm)) !== undefined;
  const kernels = fusedDisabledByEnv() ? 'composite tfjs ops' : simdKernels ? 'wasm SIMD' : 'JS';
  const label = await wasmLabel();
  let reason: string | undefined;
  if (nativeDisabledByEnv()) {
    reason = 'disabled by HEADSTEER_NATIVE=0';
  } else if (options.native === false) {
    reason = 'disabled by option native=false';
  } else if (backend !== 'wasm') {
    reason = `backend is ${backend}, not wasm`;
  } else {
    const blas = loadSgemm();
    if (blas.ok) {
      registerNativeMatMul(blas.sgemm, options.matmul ?? DEFAULT_NATIVE_MATMUL);
      registerNativeAttention(blas.sgemm);
      info = { backend, matmul: 'openblas', simdKernels, notice: `engine: ${label} + OpenBLAS sgemm (nblas), GELU/LayerNorm: ${kernels}` };
      return info;
    }
    reason = blas.reason;
  }
  info = { backend, matmul: 'xnnpack', simdKernels, notice: `engine: ${label}, XNNPACK matmul (OpenBLAS unavailable: ${reason}), GELU/LayerNorm: ${kernels}` };
  return info;
}
