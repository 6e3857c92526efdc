/**
 * The attention core, m ⊙ softmax(s Q K^T) V for every head, as one kernel each way on the wasm heap,
 * reading q, k and v where the fused qkv projection wrote them: (B, N, 3D) with q | k | v each D =
 * H Dh wide, head h at columns h Dh. Every per-head product is one OpenBLAS sgemm on strided
 * views (lda = 3D), so there are no per-head transposes or splits, and the softmax and its gradient
 * are single passes over each (N, N) block. The optional head mask m (B, H) (paper Eq. 1) is the
 * alpha of the P V sgemm, and of the backward products, instead of a multiply over (B, N, H, Dh) and,
 * backward, another multiply and a sum over N and Dh for its gradient. The composite tfjs formula
 * (model/attention.ts) does the same with 12 kernels forward and about 20 backward, 4 of them transposes.
 *
 *   forward   P = softmax(s Q K^T)   (B, H, N, N), kept for backward, its rows padded to whole quads
 *             O = m P V               (B, N, D), head h at columns h Dh
 *   backward  dV = m P^T dO,  G = dO V^T,  dS = P ⊙ (G - rowsum(G ⊙ P)),
 *             dQ = s m dS K,  dK = s m dS^T Q   -> dqkv (B, N, 3D)
 *             dm = Σ (G ⊙ P) = <dO, P V>        -> dmask (B, H), from the softmax gradient's row sums
 *
 * Legend: B batch, N tokens, H heads, Dh head width, D = H Dh, s the logit scale, m a head's mask value.
 */
import * as tf from '@tensorflow/tfjs';
import { NO_TRANS, TRANS, type Sgemm } from './blas.js';
import { fusedDisabledByEnv } from './fused.js';
import { simd } from './simd.js';
import { wasmBackend, type KernelArgs, type WasmBackend } from './wasm_backend.js';

export const ATTENTION_KERNEL = 'HeadsteerAttention';
export const ATTENTION_GRAD_KERNEL = 'HeadsteerAttentionGrad';

/** Sizes of one call, from qkv (B, N, 3D) and the head count. */
interface Dims {
  B: number;
  N: number;
  H: number;
  Dh: number;
  D: number;
}

function dimsOf(qkv: readonly number[], heads: number): Dims {
  const [B = 0, N = 0, D3 = 0] = qkv;
  if (qkv.length !== 3 || D3 % (3 * heads) !== 0) {
    throw new Error(`${ATTENTION_KERNEL}: qkv must be (B, N, 3 H Dh) with H = ${heads}, got [${qkv.join(', ')}]`);
  }
  const D = D3 / 3;
  return { B, N, H: heads, Dh: D / heads, D };
}

/** Element offset of a tensor on the wasm heap. */
function offsetOf(backend: WasmBackend, t: tf.TensorInfo | undefined, name: string): number {
  const data = t === undefined ? undefined : backend.dataIdMap.get(t.dataId);
  if (t === undefined || data === undefined || t.dtype !== 'float32' || data.memoryOffset % 4 !== 0) {
    throw new Error(`${ATTENTION_KERNEL}: input '${name}' is not a float32 tensor on the wasm heap`);
  }
  return data.memoryOffset / 4;
}

/** Floats between the rows of an (N, N) probability block: N rounded up to whole SIMD quads. */
export const rowStride = (n: number): number => (n + 3) & ~3;

/**
 * Row-wise softmax of `rows` rows of n at element `off`, in place, rows `rowStride(n)` apart; the
 * floats past n of each row are set to 0 (the JS twin of simd.ts's `softmaxRows`).
 */
export function softmaxRows(x: Float32Array, off: number, rows: number, n: number): void {
  const stride = rowStride(n);
  for (let r = 0, o = off; r < rows; r++, o += stride) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[o + j] as number);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp((x[o + j] as number) - max);
      x[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) x[o + j] = (x[o + j] as number) * inv;
    x.fill(0, o + n, o + stride);
  }
}

/**
 * dp = p (dp - rowsum(dp p)) for `rows` rows of n at element offsets `pOff` and `dpOff`, laid out as
 * for `softmaxRows`, and each row's rowsum(dp p) into `dots` from element `dotsOff` (the JS twin of
 * simd.ts's `softmaxGradRows`).
 */
export function softmaxGradRows(x: Float32Array, pOff: number, dpOff: number, dotsOff: number, rows: number, n: number): void {
  const stride = rowStride(n);
  for (let r = 0, p = pOff, d = dpOff; r < rows; r++, p += stride, d += stride) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += (x[d + j] as number) * (x[p + j] as number);
    x[dotsOff + r] = dot;
    for (let j = 0; j < n; j++) x[d + j] = (x[p + j] as number) * ((x[d + j] as number) - dot);
    x.fill(0, d + n, d + stride);
  }
}

/** Softmax of `rows` rows of n at element `off` of the heap: the SIMD kernel when loaded. */
function softmaxOnHeap(heap: Float32Array, off: number, rows: number, n: number): void {
  const kernels = simd();
  if (kernels === undefined) softmaxRows(heap, off, rows, n);
  else kernels.softmaxRows(4 * off, rows, n);
}

function softmaxGradOnHeap(heap: Float32Array, pOff: number, dpOff: number, dotsOff: number, rows: number, n: number): void {
  const kernels = simd();
  if (kernels === undefined) softmaxGradRows(heap, pOff, dpOff, dotsOff, rows, n);
  else kernels.softmaxGradRows(4 * pOff, 4 * dpOff, 4 * dotsOff, rows, n);
}

/** Call `f(b, h, row)` for every (batch, head), `row` = the element offset of head h's q in (B, N, 3D). */
function eachHead({ B, N, H, Dh, D }: Dims, f: (b: number, h: number, row: number) => void): void {
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) f(b, h, b * N * 3 * D + h * Dh);
}

/** The head mask (B, H) as numbers when given (one per (image, head)), else all ones. */
function maskValues(backend: WasmBackend, mask: tf.TensorInfo | undefined | null, B: number, H: number): Float32Array {
  if (mask === undefined || mask === null) return new Float32Array(B * H).fill(1);
  if (mask.shape.length !== 2 || mask.shape[0] !== B || mask.shape[1] !== H) {
    throw new Error(`${ATTENTION_KERNEL}: mask must be (B, H) = (${B}, ${H}), got [${mask.shape.join(', ')}]`);
  }
  const off = offsetOf(backend, mask, 'mask');
  return new Float32Array(backend.wasm.HEAPU8.buffer).slice(off, off + B * H);
}

function forward(sgemm: Sgemm, args: KernelArgs): tf.TensorInfo[] {
  const backend = wasmBackend(args.backend);
  const qkv = args.inputs['qkv'];
  const heads = args.attrs?.['heads'] as number;
  const scale = args.attrs?.['scale'] as number;
  const dims = dimsOf(qkv?.shape ?? [], heads);
  const { B, N, H, Dh, D } = dims;
  const qkvOff = offsetOf(backend, qkv, 'qkv');
  const m = maskValues(backend, args.inputs['mask'], B, H);
  const S = rowStride(N);
  const o = backend.makeOutput([B, N, D], 'float32');
  const p = backend.makeOutput([B, H, N, S], 'float32');
  if (B * N * D === 0) return [o, p];
  const oOff = offsetOf(backend, o, 'o');
  const pOff = offsetOf(backend, p, 'p');
  // Views only now: makeOutput may have grown wasm memory and detached the previous buffer.
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const at = (off: number): Float32Array => heap.subarray(off);
  const pAt = (b: number, h: number): number => pOff + (b * H + h) * N * S; // (N, N), row stride S
  eachHead(dims, (b, h, row) => {
    const q = qkvOff + row; // (N, Dh), row stride 3D; k and v D and 2D further
    sgemm(NO_TRANS, TRANS, N, N, Dh, scale, at(q), 3 * D, at(q + D), 3 * D, 0, at(pAt(b, h)), S);
  });
  softmaxOnHeap(heap, pOff, B * H * N, N);
  eachHead(dims, (b, h, row) => {
    const mh = m[b * H + h] as number;
    sgemm(NO_TRANS, NO_TRANS, N, Dh, N, mh, at(pAt(b, h)), S, at(qkvOff + row + 2 * D), 3 * D, 0, at(oOff + b * N * D + h * Dh), D);
  });
  return [o, p];
}

function backward(sgemm: Sgemm, args: KernelArgs): tf.TensorInfo[] {
  const backend = wasmBackend(args.backend);
  const { dy, qkv, p, mask } = args.inputs;
  const heads = args.attrs?.['heads'] as number;
  const scale = args.attrs?.['scale'] as number;
  const dims = dimsOf(qkv?.shape ?? [], heads);
  const { B, N, H, Dh, D } = dims;
  const dyOff = offsetOf(backend, dy, 'dy');
  const qkvOff = offsetOf(backend, qkv, 'qkv');
  const pOff = offsetOf(backend, p, 'p');
  const m = maskValues(backend, mask, B, H);
  const masked = mask !== undefined && mask !== null;
  const dqkv = backend.makeOutput([B, N, 3 * D], 'float32');
  const dmask = masked ? backend.makeOutput([B, H], 'float32') : undefined;
  if (B * N * D === 0) return dmask === undefined ? [dqkv] : [dqkv, dmask];
  const S = rowStride(N);
  const scratch = backend.makeOutput([B, H, N, S], 'float32'); // G, then dS, laid out as p
  const dots = backend.makeOutput([B, H, N], 'float32'); // rowsum(G ⊙ P)
  const gOff = offsetOf(backend, dqkv, 'dqkv');
  const sOff = offsetOf(backend, scratch, 'scratch');
  const dotsOff = offsetOf(backend, dots, 'dots');
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const at = (off: number): Float32Array => heap.subarray(off);
  const headAt = (base: number, b: number, h: number): number => base + (b * H + h) * N * S; // (N, N), row stride S
  eachHead(dims, (b, h, row) => {
    const mh = m[b * H + h] as number;
    const dO = at(dyOff + b * N * D + h * Dh); // (N, Dh), stride D
    sgemm(TRANS, NO_TRANS, N, Dh, N, mh, at(headAt(pOff, b, h)), S, dO, D, 0, at(gOff + row + 2 * D), 3 * D); // dV
    sgemm(NO_TRANS, TRANS, N, N, Dh, 1, dO, D, at(qkvOff + row + 2 * D), 3 * D, 0, at(headAt(sOff, b, h)), S); // G
  });
  softmaxGradOnHeap(heap, pOff, sOff, dotsOff, B * H * N, N);
  eachHead(dims, (b, h, row) => {
    const alpha = scale * (m[b * H + h] as number);
    const ds = at(headAt(sOff, b, h));
    sgemm(NO_TRANS, NO_TRANS, N, Dh, N, alpha, ds, S, at(qkvOff + row + D), 3 * D, 0, at(gOff + row), 3 * D); // dQ
    sgemm(TRANS, NO_TRANS, N, Dh, N, alpha, ds, S, at(qkvOff + row), 3 * D, 0, at(gOff + row + D), 3 * D); // dK
  });
  if (dmask !== undefined) {
    const dmOff = offsetOf(backend, dmask, 'dmask');
    for (let bh = 0; bh < B * H; bh++) {
      let sum = 0;
      for (let r = 0, d = dotsOff + bh * N; r < N; r++) sum += heap[d + r] as number;
      heap[dmOff + bh] = sum;
    }
  }
  backend.disposeData(scratch.dataId);
  backend.disposeData(dots.dataId);
  return dmask === undefined ? [dqkv] : [dqkv, dmask];
}

/**
 * Register both kernels on the wasm backend, computing with `sgemm`.
 * @returns a function that unregisters them.
 */
export function registerNativeAttention(sgemm: Sgemm): () => void {
  for (const name of [ATTENTION_KERNEL, ATTENTION_GRAD_KERNEL]) {
    if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
  }
  tf.registerKernel({ kernelName: ATTENTION_KERNEL, backendName: 'wasm', kernelFunc: (args) => forward(sgemm, args) });
  tf.registerKernel({ kernelName: ATTENTION_GRAD_KERNEL, backendName: 'wasm', kernelFunc: (args) => backward(sgemm, args) });
  return () => {
    tf.unregisterKernel(ATTENTION_KERNEL, 'wasm');
    tf.unregisterKernel(ATTENTION_GRAD_KERNEL, 'wasm');
  };
}

/** Whether `attentionCore` can run now: the kernels are registered for the current backend and not disabled (`HEADSTEER_FUSED=0`). */
export function attentionCoreActive(): boolean {
  return tf.getKernel(ATTENTION_KERNEL, tf.getBackend()) !== undefined && !fusedDisabledByEnv();
}

/**
 * The attention core through the kernels above (check `attentionCoreActive` first):
 * qkv (B, N, 3 H Dh), optional head mask (B, H) -> (B, N, H Dh), head h's output times its mask value,
 * with logits scaled by `scale`. Differentiable in qkv and the mask.
 */
export function attentionCore(qkv: tf.Tensor3D, heads: number, scale: number, mask: tf.Tensor2D | null = null): tf.Tensor3D {
  const attrs = { heads, scale };
  // Inputs qkv and, when given, the mask; the gradient kernel returns one gradient per input.
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, m] = args as [tf.Tensor3D, tf.Tensor2D | undefined];
    const [o, p] = tf.engine().runKernel(ATTENTION_KERNEL, m === undefined ? { qkv: x } : { qkv: x, mask: m }, attrs) as tf.Tensor[];
    save(m === undefined ? [x, p!] : [x, p!, m]);
    return {
      value: o!,
      gradFunc: (dy: tf.Tensor, [sx, sp, sm]: tf.Tensor[]) =>
        tf.engine().runKernel(ATTENTION_GRAD_KERNEL, sm === undefined ? { dy, qkv: sx!, p: sp! } : { dy, qkv: sx!, p: sp!, mask: sm }, attrs) as tf.Tensor[],
    };
  });
  return (mask === null ? op(qkv) : op(qkv, mask)) as tf.Tensor3D;
}
