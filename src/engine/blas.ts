/**
 * Loads a native single-precision GEMM (CBLAS `sgemm`, row-major) from the optional npm package
 * `nblas`, which links the system `libblas.so.3` (Debian: OpenBLAS through update-alternatives).
 * Loading never throws: a missing addon, a failed build or a non-OpenBLAS libblas yields a reason
 * string so the engine can keep tfjs's own XNNPACK kernel and say why.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** CBLAS transpose flags (cblas.h `CBLAS_TRANSPOSE`). */
export const NO_TRANS = 111;
export const TRANS = 112;
export type BlasTrans = typeof NO_TRANS | typeof TRANS;

/**
 * Row-major `C = alpha * op(A) @ op(B) + beta * C` with op(A) (m, k), op(B) (k, n), C (m, n).
 * The arrays may be views with a byteOffset: nblas's binding adds `ByteOffset()` to the backing
 * store pointer (checked in `nblas/lib/routines.h` and by test), so views on the wasm heap work
 * in place. Nothing is bounds-checked natively: callers must pass views long enough.
 */
export type Sgemm = (
  transA: BlasTrans,
  transB: BlasTrans,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** Result of `loadSgemm`: the routine, or why it is unavailable. */
export type BlasLoad = { ok: true; sgemm: Sgemm; library: string } | { ok: false; reason: string };

interface NblasModule {
  sgemm?: unknown;
}

function isSgemm(f: unknown): f is Sgemm {
  return typeof f === 'function';
}

/**
 * The shared BLAS library the process actually mapped, from /proc/self/maps (Linux only).
 * Debian's libblas.so.3 may point at reference BLAS, which is ~10x slower than XNNPACK.
 */
function mappedBlasLibrary(): string | undefined {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return undefined;
  }
  const paths = new Set<string>();
  for (const line of maps.split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (line.includes('/') && /\/lib(open)?blas[^/]*\.so/.test(path)) paths.add(path);
  }
  const list = [...paths];
  return list.find((p) => p.includes('openblas')) ?? list[0];
}

/**
 * Load `nblas` and check that its sgemm is OpenBLAS. Never throws.
 * @returns `{ ok: true, sgemm, library }` or `{ ok: false, reason }`.
 */
export function loadSgemm(): BlasLoad {
  let mod: NblasModule;
  // OpenBLAS reads its environment when the library loads, so this must precede the require. Its idle
  // threads spin for 2^28 cycles by default before they sleep; at 2^4 they sleep at once. Measured on
  // 2 cores (docs/design.md "Engine"): system time of a pretraining slice 5.3 s -> 1.2 s, CPU 0.73x,
  // wall 0.97x. A value the user set is kept.
  process.env['OPENBLAS_THREAD_TIMEOUT'] ??= '4';
  try {
    const require = createRequire(import.meta.url);
    mod = require('nblas') as NblasModule;
  } catch (err) {
    const msg = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    return { ok: false, reason: `nblas failed to load: ${msg}` };
  }
  const sgemm = mod.sgemm;
  if (!isSgemm(sgemm)) return { ok: false, reason: 'nblas has no sgemm export' };
  const library = mappedBlasLibrary();
  if (library !== undefined && !library.includes('openblas')) {
    return { ok: false, reason: `libblas is not OpenBLAS (${library})` };
  }
  return { ok: true, sgemm, library: library ?? 'libblas.so.3' };
}
