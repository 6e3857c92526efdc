/**
 * OpenBLAS-backed `BatchMatMul` and `_FusedMatMul` kernels for tfjs-backend-wasm.
 * Inputs are read and the output written in place on the wasm heap (Float32Array views at each
 * tensor's memoryOffset), so no data is copied between wasm and native memory. Batched calls too
 * small to amortise the native call, and fused prelu, go to the wasm backend's own XNNPACK
 * kernels, which are kept for that and restored on unregister.
 */
import * as tf from '@tensorflow/tfjs';
import { NO_TRANS, TRANS, type Sgemm } from './blas.js';
import { planBatchMatMul, type GemmPlan } from './gemm_plan.js';
import { wasmBackend, type KernelArgs, type WasmBackend } from './wasm_backend.js';

/** Dispatch settings of the native kernels. */
export interface NativeMatMulOptions {
  /**
   * Smallest work per sgemm call (2*M*N*K FLOPs) for which a *batched* matmul goes to OpenBLAS.
   * Measured (bench/matmul.ts, 384 batches): each native call costs ~0.26 us of JS->C++ overhead,
   * so XNNPACK wins below ~600 FLOP per matrix (4x4x4: 37 vs 94 us) and OpenBLAS wins from
   * 8x8x8 up (185 vs 101 us), by 20-30x at attention sizes. A single gemm always goes native:
   * even 1x1x1 is cheaper than tfjs's own wrapper (1.7 vs 2.4 us).
   * @default 1024
   */
  minFlopsPerCall: number;
}

/** Default dispatch settings (see `NativeMatMulOptions`). */
export const DEFAULT_NATIVE_MATMUL: Readonly<NativeMatMulOptions> = Object.freeze({
  minFlopsPerCall: 1024,
});

type KernelResult = ReturnType<tf.KernelFunc>;

/** A float32 view of the whole wasm heap; taken after any allocation since growth replaces it. */
function heapF32(backend: WasmBackend): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}

/** Element offset of a tensor on the heap, or undefined if it is not a float-aligned heap tensor. */
function elementOffset(backend: WasmBackend, t: tf.TensorInfo): number | undefined {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined || data.memoryOffset % 4 !== 0) return undefined;
  return data.memoryOffset / 4;
}

/** Bias (N) repeated into every row of c (rows, N): one copy then doubling memmoves. */
function fillRows(c: Float32Array, bias: Float32Array | undefined, rows: number, n: number): void {
  if (bias === undefined) {
    c.fill(0, 0, rows * n);
    return;
  }
  c.set(bias.subarray(0, n), 0);
  for (let filled = 1; filled < rows; filled *= 2) {
    c.copyWithin(filled * n, 0, Math.min(filled, rows - filled) * n);
  }
}

/** Run a plan: C = op(A) @ op(B) + beta*C for each call. */
function runPlan(sgemm: Sgemm, plan: GemmPlan, heap: Float32Array, aOff: number, bOff: number, cOff: number, beta: number): void {
  const ta = plan.transA ? TRANS : NO_TRANS;
  const tb = plan.transB ? TRANS : NO_TRANS;
  const { m, n, k, lda, ldb, offsets } = plan;
  for (let i = 0; i < offsets.length; i += 3) {
    const a = heap.subarray(aOff + (offsets[i] ?? 0));
    const b = heap.subarray(bOff + (offsets[i + 1] ?? 0));
    const c = heap.subarray(cOff + (offsets[i + 2] ?? 0));
    sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, n);
  }
}

/**
 * Whether a plan must or should go to OpenBLAS (see `minFlopsPerCall`). Forced where tfjs-wasm's
 * own kernel is wrong: it flattens batch dims and takes max(Ba, Bb), so a two-sided broadcast such as [2,1] vs [1,3]
 * returns a mis-sized buffer, and K = 0 returns uninitialised memory instead of zeros.
 */
function useNative(plan: GemmPlan, ba: number, bb: number, options: NativeMatMulOptions): boolean {
  if (plan.k === 0 || (ba !== bb && ba !== 1 && bb !== 1)) return true;
  return plan.offsets.length === 3 || 2 * plan.m * plan.n * plan.k >= options.minFlopsPerCall;
}

/** Fused activations done in place after the gemm (tfjs `Activation` minus prelu). */
export type NativeActivation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu';
const NATIVE_ACTIVATIONS: ReadonlySet<string> = new Set<NativeActivation>(['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu']);

function isNativeActivation(name: unknown): name is NativeActivation {
  return typeof name === 'string' && NATIVE_ACTIVATIONS.has(name);
}

/** Apply a fused activation in place, with tfjs's formulas (elu: exp(x)-1 for x < 0). */
function activate(c: Float32Array, activation: NativeActivation, alpha: number): void {
  const len = c.length;
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < len; i++) {
        if ((c[i] as number) < 0) c[i] = 0;
      }
      return;
    case 'relu6':
      for (let i = 0; i < len; i++) c[i] = Math.min(6, Math.max(0, c[i] as number));
      return;
    case 'elu':
      for (let i = 0; i < len; i++) {
        const v = c[i] as number;
        if (v < 0) c[i] = Math.expm1(v);
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < len; i++) c[i] = 1 / (1 + Math.exp(-(c[i] as number)));
      return;
    case 'leakyrelu':
      for (let i = 0; i < len; i++) {
        const v = c[i] as number;
        if (v < 0) c[i] = alpha * v;
      }
      return;
  }
}

/**
 * Shared body of both kernels: plan, allocate, prefill (bias or nothing), sgemm, activation.
 * `options` undefined means no size threshold. Returns undefined when the call should go to the
 * XNNPACK kernel instead.
 */
function nativeMatMul(
  sgemm: Sgemm,
  options: NativeMatMulOptions | undefined,
  args: KernelArgs,
  bias: tf.TensorInfo | undefined,
  activation: NativeActivation,
): tf.TensorInfo | undefined {
  const { a, b } = args.inputs;
  const attrs = args.attrs ?? {};
  if (a === undefined || b === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return undefined;
  }
  const plan = planBatchMatMul(a.shape, b.shape, attrs['transposeA'] === true, attrs['transposeB'] === true);
  const batches = (t: tf.TensorInfo): number => t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  if (options !== undefined && !useNative(plan, batches(a), batches(b), options)) return undefined;
  const backend = wasmBackend(args.backend);
  const aOff = elementOffset(backend, a);
  const bOff = elementOffset(backend, b);
  const biasOff = bias === undefined ? undefined : elementOffset(backend, bias);
  if (aOff === undefined || bOff === undefined || (bias !== undefined && biasOff === undefined)) {
    return undefined;
  }
  const out = backend.makeOutput(plan.outShape, 'float32');
  const size = plan.outShape.reduce((p, d) => p * d, 1);
  if (size === 0) return out;
  const cOff = elementOffset(backend, out);
  if (cOff === undefined) throw new Error('matMul: output tensor is not on the wasm heap');
  // Views only now: makeOutput may have grown wasm memory and detached the previous buffer.
  const heap = heapF32(backend);
  const c = heap.subarray(cOff, cOff + size);
  const prefilled = bias !== undefined || plan.k === 0;
  if (prefilled) {
    const biasView = biasOff === undefined ? undefined : heap.subarray(biasOff);
    fillRows(c, biasView, size / plan.n, plan.n);
  }
  if (plan.k > 0) runPlan(sgemm, plan, heap, aOff, bOff, cOff, prefilled ? 1 : 0);
  const alpha = args.attrs?.['leakyreluAlpha'];
  activate(c, activation, typeof alpha === 'number' ? alpha : 0.2);
  return out;
}

/** tfjs-backend-wasm's own kernels (the XNNPACK fallback), captured on first replacement. */
const wasmOriginals = new Map<string, tf.KernelConfig>();

/**
 * Swap the registered wasm kernel `name` for one built around the wasm original.
 * @returns the config that was registered before, for restoring.
 */
function replaceKernel(name: string, build: (original: tf.KernelConfig) => tf.KernelFunc): tf.KernelConfig {
  const previous = tf.getKernel(name, 'wasm');
  if (previous === undefined) throw new Error(`wasm backend has no ${name} kernel to replace`);
  const original = wasmOriginals.get(name) ?? previous;
  wasmOriginals.set(name, original);
  // registerKernel warns on the console about duplicates, so remove the current one first.
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: build(original) });
  return previous;
}

/**
 * Replace the wasm backend's BatchMatMul (tf.matMul and every matmul gradient) and _FusedMatMul
 * (tf.fused.matMul, tfjs-layers Dense) with OpenBLAS sgemm. Register after the wasm backend is
 * initialised: the originals' setup has run and is reused by the fallback path.
 * Fused calls with prelu, or a bias that is not a rank-1 (N) vector, go to XNNPACK.
 * @returns a function that restores the kernels registered before this call.
 */
export function registerNativeMatMul(sgemm: Sgemm, options: NativeMatMulOptions = DEFAULT_NATIVE_MATMUL): () => void {
  registrations += 1;
  const previous = [
    replaceKernel(
      tf.BatchMatMul,
      (original) =>
        (args: KernelArgs): KernelResult =>
          nativeMatMul(sgemm, options, args, undefined, 'linear') ?? original.kernelFunc(args),
    ),

    replaceKernel(tf._FusedMatMul, (original) => (args: KernelArgs): KernelResult => {
      const { bias, preluActivationWeights } = args.inputs;
      const activation = args.attrs?.['activation'] ?? 'linear';
      // tfjs-core passes absent optional inputs as undefined entries; treat null the same.
      const biasInfo = bias ?? undefined;
      const biasFits = biasInfo === undefined || (biasInfo.shape.length === 1 && biasInfo.dtype === 'float32' && biasInfo.shape[0] === lastDimOfOutput(args));
      // No size threshold here: tfjs-wasm 4.22's fused kernel is wrong with a transpose + bias
      // (measured: errors ~1 on unit-scale data), and tiny fused calls are too cheap to matter.
      const res =
        isNativeActivation(activation) && preluActivationWeights == null && biasFits ? nativeMatMul(sgemm, undefined, args, biasInfo, activation) : undefined;
      return res ?? original.kernelFunc(args);
    }),
  ];

  return () => {
    registrations -= 1;
    for (const config of previous) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  };
}

/** How many `registerNativeMatMul` calls are not yet undone. */
let registrations = 0;

/**
 * Whether the wasm backend's matmul kernels are the native ones now: then a matmul of a batched
 * (..., M, K) with a single (K, N) matrix is one sgemm over the stacked rows (gemm_plan.ts), with no
 * reshape needed.
 */
export function nativeMatMulActive(): boolean {
  return registrations > 0 && tf.getBackend() === 'wasm';
}

/** N of a fused matmul's output, to check that a rank-1 bias spans whole rows. */
function lastDimOfOutput(args: KernelArgs): number {
  const b = args.inputs['b'];
  if (b === undefined) return -1;
  const r = b.shape.length;
  return (args.attrs?.['transposeB'] === true ? b.shape[r - 2] : b.shape[r - 1]) ?? -1;
}
