/**
 * The WebAssembly SIMD kernels of simd_kernels.wat (exact GELU, LayerNorm and softmax rows in both
 * directions, the AdamW update, squared norms, column sums), instantiated against tfjs-backend-wasm's own memory so
 * they read and write tensors in place: no copy in or out, and no JS loop per element. gelu.ts,
 * layernorm.ts, optimizer.ts and wasm_kernels.ts use them on the wasm backend when loaded and fall
 * back to their JS loops otherwise (cpu backend, `HEADSTEER_SIMD=0`, or a build without the .wasm
 * file). `initEngine` calls `loadSimdKernels` once.
 */
import { UserError } from '../errors.js';

/** The kernels; every pointer is a byte offset into the wasm heap, sizes are element counts. */
export interface SimdKernels {
  /** y[i] = GELU(x[i]) for i < n. */
  gelu(x: number, y: number, n: number): void;
  /** y[i] = GELU(x[i]) and g[i] = GELU'(x[i]) for i < n (training: the backward is dy g). */
  geluTrain(x: number, y: number, g: number, n: number): void;
  /** LayerNorm of x (rows, d) with gamma, beta (d); writes y (rows, d), mean and rstd (rows). */
  layerNorm(x: number, gamma: number, beta: number, y: number, mean: number, rstd: number, rows: number, d: number, eps: number): void;
  /**
   * LayerNorm backward; writes dx (rows, d), dgamma and dbeta (d). `scratch`: 16 d bytes,
   * 8-byte aligned (see `withScratch`).
   */
  layerNormGrad(
    dy: number,
    x: number,
    gamma: number,
    mean: number,
    rstd: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    scratch: number,
    rows: number,
    d: number,
  ): void;
  /** One AdamW step over n floats (see `AdamWHyper`); pOut, mOut, vOut may be p, m, v (in place), else must not overlap the inputs. */
  adamw(p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, n: number, h: AdamWHyper): void;
  /** Column sums of x (rows, cols) into out (cols), float64 accumulation; `scratch`: 8 cols bytes. */
  sumLeading(x: number, out: number, rows: number, cols: number, scratch: number): void;
  /** Σ x[i]² over n floats, accumulated in float64. */
  sumSquares(x: number, n: number): number;
  /** Softmax of each row of x (rows, n), in place. */
  softmaxRows(x: number, rows: number, n: number): void;
  /** dp = p (dp - Σ_row dp p) for each row of p and dp (rows, n), in place; each row's Σ dp p into dots (rows). */
  softmaxGradRows(p: number, dp: number, dots: number, rows: number, n: number): void;
  /** Run `f` with `bytes` of heap scratch (malloc'd, freed after). */
  withScratch<T>(bytes: number, f: (ptr: number) => T): T;
}

/**
 * Scalars of one AdamW step: g' = g scale, m' = beta1 m + (1 - beta1) g', v' = beta2 v + (1 - beta2) g'²,
 * p' = p decay - lr (m' / bc1) / (sqrt(v' / bc2) + eps), with bc1, bc2 the bias corrections.
 */
export interface AdamWHyper {
  scale: number;
  beta1: number;
  beta2: number;
  bc1: number;
  bc2: number;
  lr: number;
  decay: number;
  eps: number;
}

/** The parts of tfjs-backend-wasm's Emscripten module this file touches. */
export interface EmscriptenModule {
  asm?: { memory?: unknown };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

interface Exports {
  gelu(x: number, y: number, n: number): void;
  gelu_train(x: number, y: number, g: number, n: number): void;
  layer_norm(...args: number[]): void;
  layer_norm_grad(...args: number[]): void;
  adamw(...args: number[]): void;
  sum_squares(x: number, n: number): number;
  sum_leading(x: number, out: number, rows: number, cols: number, acc: number): void;
  softmax_rows(x: number, rows: number, n: number): void;
  softmax_grad_rows(p: number, dp: number, dots: number, rows: number, n: number): void;
}

const EXPORTS: ReadonlyArray<keyof Exports> = [
  'gelu',
  'gelu_train',
  'layer_norm',
  'layer_norm_grad',
  'adamw',
  'sum_squares',
  'sum_leading',
  'softmax_rows',
  'softmax_grad_rows',
];

let kernels: SimdKernels | undefined;

/** Whether the environment disables the SIMD kernels (`HEADSTEER_SIMD=0|false|off|no`). */
export function simdDisabledByEnv(env: NodeJS.ProcessEnv = globalThis.process?.env ?? {}): boolean {
  const v = env['HEADSTEER_SIMD']?.trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

/** The kernels when loaded and not disabled by the environment. */
export function simd(): SimdKernels | undefined {
  return kernels !== undefined && !simdDisabledByEnv() ? kernels : undefined;
}

/**
 * Compile simd_kernels.wasm and bind it to `module`'s memory. Returns undefined (the JS kernels
 * stay in use) when the file or the memory is missing.
 * @throws UserError naming the file when it is not a valid module or lacks a kernel (a broken build)
 */
export async function loadSimdKernels(module: EmscriptenModule): Promise<SimdKernels | undefined> {
  if (kernels !== undefined) return kernels;
  const memory = module.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const file = new URL('./simd_kernels.wasm', import.meta.url);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    const { readFile } = await import('node:fs/promises');
    bytes = new Uint8Array(await readFile(file));
  } catch {
    return undefined;
  }
  kernels = await instantiateSimdKernels(bytes, module, memory, decodeURIComponent(file.pathname));
  return kernels;
}

/**
 * The kernels of the module `bytes` (read from `file`, named in errors) bound to `memory`.
 * @throws UserError when `bytes` is not a valid module or lacks one of the kernels
 */
export async function instantiateSimdKernels(
  bytes: Uint8Array<ArrayBuffer>,
  module: EmscriptenModule,
  memory: WebAssembly.Memory,
  file: string,
): Promise<SimdKernels> {
  const broken = (why: string): UserError => new UserError(`${file}: ${why}; rebuild it with \`npm run build\` (or set HEADSTEER_SIMD=0)`);
  let exports: WebAssembly.Exports;
  try {
    exports = (await WebAssembly.instantiate(await WebAssembly.compile(bytes), { env: { memory } })).exports;
  } catch (err) {
    throw broken(`not a usable WebAssembly module (${(err as Error).message})`);
  }
  const missing = EXPORTS.filter((name) => typeof exports[name] !== 'function');
  if (missing.length > 0) throw broken(`missing the kernels ${missing.join(', ')} (built from an older simd_kernels.wat?)`);
  const ex = exports as unknown as Exports;
  return {
    gelu: ex.gelu,
    geluTrain: ex.gelu_train,
    layerNorm: ex.layer_norm,
    layerNormGrad: ex.layer_norm_grad,
    adamw: (p, g, m, v, pOut, mOut, vOut, n, h) =>
      ex.adamw(p, g, m, v, pOut, mOut, vOut, n, h.scale, h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, h.bc1, h.bc2, h.lr, h.decay, h.eps),
    sumSquares: ex.sum_squares,
    sumLeading: ex.sum_leading,
    softmaxRows: ex.softmax_rows,
    softmaxGradRows: ex.softmax_grad_rows,
    withScratch(size, f) {
      const ptr = module._malloc(size + 8);
      try {
        return f((ptr + 7) & ~7);
      } finally {
        module._free(ptr);
      }
    },
  };
}
