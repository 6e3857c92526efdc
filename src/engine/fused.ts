/**
 * Shared plumbing of the fused elementwise kernels (gelu.ts, layernorm.ts): when to use them, and
 * how one JS compute function becomes a tfjs kernel on both the wasm and the cpu backend.
 *
 * On 'wasm' a kernel reads its inputs and writes its outputs in place on the wasm heap (Float32Array
 * views at each tensor's memoryOffset, as matmul_kernel.ts does); on 'cpu' it reads the backend's
 * arrays with readSync and hands new arrays to makeTensorInfo. The kernels are plain JS, so they
 * need no native addon: they are on whenever the backend is wasm or cpu, unless
 * `HEADSTEER_FUSED=0` forces the composite tfjs-op formulas (equivalence tests, debugging). Any
 * other backend (webgpu later) takes the composite path, so model code stays backend-agnostic.
 * A spec with `runHeap` runs on the wasm backend through the SIMD kernels of simd.ts when they are
 * loaded, on heap offsets instead of views; `run` is the fallback and the cpu backend's path.
 */
import * as tf from '@tensorflow/tfjs';
import { simd, type SimdKernels } from './simd.js';
import { wasmBackend, type KernelArgs } from './wasm_backend.js';

/** Backends that have the fused kernels. */
const FUSED_BACKENDS = ['wasm', 'cpu'] as const;
type FusedBackend = (typeof FUSED_BACKENDS)[number];

/** Whether the environment forces the composite path (`HEADSTEER_FUSED=0|false|off|no`). */
export function fusedDisabledByEnv(env: NodeJS.ProcessEnv = globalThis.process?.env ?? {}): boolean {
  const v = env['HEADSTEER_FUSED']?.trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

/** Whether the current backend has the fused kernels (ignoring the environment switch). */
export function fusedBackendActive(): boolean {
  return (FUSED_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/** Whether ops should take the fused path now: a fused backend, and not disabled by env. */
export function useFused(): boolean {
  return fusedBackendActive() && !fusedDisabledByEnv();
}

/**
 * A fused kernel as one pure function over flat float32 arrays. `run` must write every element
 * of every output (wasm outputs are uninitialised heap memory).
 */
export interface FusedKernelSpec {
  name: string;
  /** Input names in the order `run` receives them. */
  inputs: readonly string[];
  /** Output shapes from the input shapes. */
  outputShapes(shapes: ReadonlyArray<readonly number[]>, attrs: tf.NamedAttrMap): number[][];
  run(inputs: Float32Array[], outputs: Float32Array[], shapes: ReadonlyArray<readonly number[]>, attrs: tf.NamedAttrMap): void;
  /** The same computation by the SIMD kernels, on byte offsets into the wasm heap. */
  runHeap?(kernels: SimdKernels, inputs: number[], outputs: number[], shapes: ReadonlyArray<readonly number[]>, attrs: tf.NamedAttrMap): void;
}

/** The parts of tfjs-backend-cpu's `MathBackendCPU` the kernels touch. */
interface CpuBackend {
  readSync(dataId: object): unknown;
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

function kernelInputs(spec: FusedKernelSpec, args: KernelArgs): tf.TensorInfo[] {
  return spec.inputs.map((name) => {
    const t = args.inputs[name];
    if (t === undefined || t === null) throw new Error(`${spec.name}: missing input '${name}'`);
    if (t.dtype !== 'float32') throw new Error(`${spec.name}: input '${name}' is ${t.dtype}, expected float32`);
    return t;
  });
}

function wasmKernel(spec: FusedKernelSpec): tf.KernelFunc {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = wasmBackend(args.backend);
    const attrs = args.attrs ?? {};
    const ins = kernelInputs(spec, args);
    const shapes = ins.map((t) => t.shape);
    const offsets = ins.map((t) => {
      const data = backend.dataIdMap.get(t.dataId);
      if (data === undefined) throw new Error(`${spec.name}: input is not on the wasm heap`);
      return data.memoryOffset;
    });
    const outShapes = spec.outputShapes(shapes, attrs);
    const outs = outShapes.map((s) => backend.makeOutput(s, 'float32'));
    const outOffsets = outs.map((t) => backend.dataIdMap.get(t.dataId)?.memoryOffset ?? 0);
    const kernels = simd();
    if (spec.runHeap !== undefined && kernels !== undefined) {
      spec.runHeap(kernels, offsets, outOffsets, shapes, attrs);
      return outs;
    }
    // Views only now: makeOutput may have grown wasm memory and detached the previous buffer.
    const heap = backend.wasm.HEAPU8.buffer;
    const view = (byteOffset: number, size: number): Float32Array => (size === 0 ? new Float32Array(0) : new Float32Array(heap, byteOffset, size));
    const inViews = ins.map((t, i) => view(offsets[i] ?? 0, sizeOf(t.shape)));
    const outViews = outs.map((_, i) => view(outOffsets[i] ?? 0, sizeOf(outShapes[i] ?? [])));
    spec.run(inViews, outViews, shapes, attrs);
    return outs;
  };
}

function cpuKernel(spec: FusedKernelSpec): tf.KernelFunc {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as unknown as CpuBackend;
    const attrs = args.attrs ?? {};
    const ins = kernelInputs(spec, args);
    const shapes = ins.map((t) => t.shape);
    const inArrays = ins.map((t) => {
      const v = backend.readSync(t.dataId);
      return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
    });
    const outShapes = spec.outputShapes(shapes, attrs);
    const outArrays = outShapes.map((s) => new Float32Array(sizeOf(s)));
    spec.run(inArrays, outArrays, shapes, attrs);
    return outShapes.map((s, i) => backend.makeTensorInfo(s, 'float32', outArrays[i]!));
  };
}

/**
 * Register `spec` for both fused backends unless already registered (idempotent, so ops can
 * call it lazily on first use instead of at import time).
 */
export function ensureKernel(spec: FusedKernelSpec): void {
  for (const backendName of FUSED_BACKENDS as readonly FusedBackend[]) {
    if (tf.getKernel(spec.name, backendName) !== undefined) continue;
    const kernelFunc = backendName === 'wasm' ? wasmKernel(spec) : cpuKernel(spec);
    tf.registerKernel({ kernelName: spec.name, backendName, kernelFunc });
  }
}

/** Run a registered fused kernel through the engine (so it is profiled and memory-tracked). */
export function runFused(name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  const out = tf.engine().runKernel<tf.Tensor | tf.Tensor[]>(name, inputs, attrs);
  return Array.isArray(out) ? out : [out];
}
