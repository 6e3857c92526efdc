/**
 * Turns a tfjs BatchMatMul (a @ b with optional transposes and broadcast batch dimensions) into
 * a list of row-major sgemm calls on flat buffers. Pure shape arithmetic, no tensors, so the
 * batching and folding rules are testable on their own.
 *
 * Legend: Ba, Bb, Bo batch counts of a, b and the output; M, N, K the gemm sizes;
 * a (Ba, M, K) or (Ba, K, M) when transposed, b (Bb, K, N) or (Bb, N, K), out (Bo, M, N).
 */

/** One batched matmul as sgemm calls; offsets are in elements from each tensor's start. */
export interface GemmPlan {
  /** Rows of each gemm call (M, or Bo*M when a's batch was folded into rows). */
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** Leading dimensions of the stored (untransposed) row-major matrices. */
  lda: number;
  ldb: number;
  /** Full output shape: broadcast batch dims + [M, N]. */
  outShape: number[];
  /** Triples (aOffset, bOffset, cOffset) per call, flattened. */
  offsets: Int32Array;
  /** True when all of a's batches became one gemm (b is a single shared matrix). */
  folded: boolean;
}

function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

/** numpy-style broadcast of two batch shapes; throws on incompatible dims like tfjs does. */
export function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`matMul: batch dims [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * For each output batch index, the batch index of an input of shape `dims` broadcast to `out`.
 * `dims` is right-aligned against `out`; a dim of 1 repeats its single matrix.
 */
function sourceBatchIndex(dims: readonly number[], out: readonly number[]): Int32Array {
  const count = product(out);
  const idx = new Int32Array(count);
  const rank = out.length;
  for (let o = 0; o < count; o++) {
    let rem = o;
    let src = 0;
    let stride = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const od = out[d] ?? 1;
      const sd = dims[dims.length - rank + d] ?? 1;
      const i = rem % od;
      rem = (rem - i) / od;
      if (sd !== 1) src += i * stride;
      stride *= sd;
    }
    idx[o] = src;
  }
  return idx;
}

/**
 * Plan `out = op(a) @ op(b)` for tensors of rank >= 2 with the BatchMatMul semantics of tfjs.
 * @param aShape (...batchA, M, K), or (...batchA, K, M) with transA
 * @param bShape (...batchB, K, N), or (...batchB, N, K) with transB
 * @returns the gemm calls and the output shape (...broadcast(batchA, batchB), M, N)
 */
export function planBatchMatMul(aShape: readonly number[], bShape: readonly number[], transA: boolean, transB: boolean): GemmPlan {
  if (aShape.length < 2 || bShape.length < 2) throw new Error('matMul: inputs must have rank >= 2');
  const ar = aShape.length;
  const br = bShape.length;
  const a0 = aShape[ar - 2] ?? 0;
  const a1 = aShape[ar - 1] ?? 0;
  const b0 = bShape[br - 2] ?? 0;
  const b1 = bShape[br - 1] ?? 0;
  const m = transA ? a1 : a0;
  const k = transA ? a0 : a1;
  const kb = transB ? b1 : b0;
  const n = transB ? b0 : b1;
  if (k !== kb) {
    throw new Error(
      `matMul: inner dims ${k} and ${kb} differ (shapes [${aShape.join(',')}] ` + `and [${bShape.join(',')}], transposeA=${transA}, transposeB=${transB})`,
    );
  }
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const batchOut = broadcastBatch(batchA, batchB);
  const outShape = [...batchOut, m, n];
  const bo = product(batchOut);
  const lda = Math.max(1, a1);
  const ldb = Math.max(1, b1);

  // b is one shared matrix and a's batches are stacked (M, K) blocks: the stack is itself a
  // row-major (Bo*M, K) matrix, so one large gemm replaces Bo small ones (the Linear layer case).
  if (product(batchB) === 1 && !transA && bo > 1) {
    return { m: bo * m, n, k, transA, transB, lda, ldb, outShape, offsets: Int32Array.of(0, 0, 0), folded: true };
  }
  const ia = sourceBatchIndex(batchA, batchOut);
  const ib = sourceBatchIndex(batchB, batchOut);
  const offsets = new Int32Array(bo * 3);
  for (let o = 0; o < bo; o++) {
    offsets[3 * o] = (ia[o] ?? 0) * m * k;
    offsets[3 * o + 1] = (ib[o] ?? 0) * k * n;
    offsets[3 * o + 2] = o * m * n;
  }
  return { m, n, k, transA, transB, lda, ldb, outShape, offsets, folded: false };
}
