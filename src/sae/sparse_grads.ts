/**
 * The top-k SAE's training loss and its gradients, derived by hand on the k-sparse code instead of a
 * dense (B,F) z through tfjs's autograd (docs/design.md "Sparse autoencoder", "Engine"). z has k of F
 * nonzeros per row, so the decode and every product with z or with d pre take B K D multiply-adds
 * instead of B F D; only the encoder's forward stays a dense sgemm.
 *
 *   pre   = x W_enc + (b_enc - b_dec W_enc)           (B,F)  dense
 *   (v,i) = ReLU(TopK_k(pre))                          (B,K)  values, latent indices: S(v,i) = z
 *   x_hat = S(v,i) W_dec + b_dec                       (B,D)  kSparseMatMul
 *   mse   = mean((x_hat - x)²),  r = d mse / d x_hat = 2 (x_hat - x) / (B D)
 *   dv    = r_b · W_dec[i_bj] where v_bj > 0, else 0   (B,K)  kSparseDots: d pre at the kept entries
 *   dW_dec = S(v,i)^T r                                (F,D)  kSparseMatMulT
 *   dW_enc = (S(dv,i)^T (x - b_dec))^T,  db_enc = Σ_b S(dv,i)_b   (D,F), (F)  kSparseMatMulT, transposed
 *   db_dec = Σ_b r_b - W_enc db_enc                    (D)    b_dec enters the encoder as -b_dec W_enc
 *
 * AuxK (loss.ts) is the same on a second code, the top-k_aux dead latents of pre, decoded without
 * b_dec against the fixed target e = x - x_hat, its r scaled by the AuxK weight; its dv, dW_dec and
 * d pre add to the main ones. The result equals tfjs's autograd of the dense formulation (train.ts)
 * up to float32 summation order (test/sae/sparse_grads.test.ts). Wasm backend only.
 * Legend: B batch, D input width, F latents, K top-k.
 */
import * as tf from '@tensorflow/tfjs';
import { kSparseDots, kSparseMatMul, kSparseMatMulT } from '../engine/sparse.js';
import type { SparseAutoencoder } from './sae.js';
import { topkReluSparse } from './topk_kernel.js';

/** Loss terms, gradients by SAE_TENSORS name, and per-latent fire counts of one batch. */
export interface SaeGrads {
  grads: Record<string, tf.Tensor>;
  mse: tf.Scalar;
  /** Unweighted AuxK MSE (0 when off). */
  aux: tf.Scalar;
  /** Samples of the batch in which each latent fired (F). */
  fired: tf.Tensor1D;
}

/** A code's contribution to the gradients: d code values (B,K), dW_dec (F,D), and its nonzeros per latent (F). */
interface CodeGrads {
  dv: tf.Tensor2D;
  dwDec: tf.Tensor2D;
  counts: tf.Tensor1D;
}

/** Backward of recon = S(v,i) W_dec (+ bias) for r = dL/d recon (B,D). */
function codeBackward(values: tf.Tensor2D, indices: tf.Tensor2D, wDec: tf.Tensor2D, r: tf.Tensor2D): CodeGrads {
  const dv = kSparseDots(r, wDec, indices, values); // (B,K)
  const { out: dwDec, counts } = kSparseMatMulT(indices, values, r, wDec.shape[0]); // (F,D), (F)
  return { dv, dwDec, counts };
}

/** The AuxK term of loss.ts on the sparse path, given it is on. */
export interface SparseAuxK {
  /** 1 for dead latents (F). */
  deadMask: tf.Tensor1D;
  /** Latents the AuxK code keeps per sample (at most the number of dead latents). */
  kAux: number;
  /** The term's weight in the loss: alpha min(n_dead / k_aux, 1). */
  weight: number;
}

/**
 * MSE (+ weighted AuxK) loss of `sae` on x (B,D) and its gradients, on the k-sparse code.
 * Run inside tf.tidy; every returned tensor is new.
 */
export function sparseSaeGrads(sae: SparseAutoencoder, x: tf.Tensor2D, auxk: SparseAuxK | null): SaeGrads {
  const [b, d] = x.shape;
  const f = sae.dSae;
  const pre = sae.encodePre(x); // (B,F)
  const { values, indices } = topkReluSparse(pre, sae.k); // (B,K) each
  const xHat = kSparseMatMul(indices, values, sae.wDec, sae.bDec); // (B,D)
  const err = tf.sub<tf.Tensor2D>(xHat, x); // (B,D)
  const mse = tf.mean(tf.square(err)) as tf.Scalar;
  const r = tf.mul<tf.Tensor2D>(err, 2 / (b * d)); // (B,D)
  const main = codeBackward(values, indices, sae.wDec, r);
  let dwDec = main.dwDec;
  const xc = tf.sub<tf.Tensor2D>(x, sae.bDec); // (B,D)
  let enc = kSparseMatMulT(indices, main.dv, xc, f, true); // dW_enc (D,F), db_enc (F)
  let aux: tf.Scalar = tf.scalar(0);
  if (auxk !== null) {
    const code = topkReluSparse(tf.mul<tf.Tensor2D>(pre, auxk.deadMask), auxk.kAux); // (B,Kaux) each
    const eHat = kSparseMatMul(code.indices, code.values, sae.wDec); // (B,D), no b_dec
    const auxErr = tf.add<tf.Tensor2D>(eHat, err); // eHat - e with e = x - x_hat
    aux = tf.mean(tf.square(auxErr)) as tf.Scalar;
    const g = codeBackward(code.values, code.indices, sae.wDec, tf.mul<tf.Tensor2D>(auxErr, (2 * auxk.weight) / (b * d)));
    dwDec = tf.add(dwDec, g.dwDec);
    const encAux = kSparseMatMulT(code.indices, g.dv, xc, f, true);
    enc = { ...enc, out: tf.add(enc.out, encAux.out), sums: tf.add(enc.sums, encAux.sums) };
  }
  const dbDec = tf.sub(tf.sum(r, 0), tf.matMul(sae.wEnc, enc.sums.reshape([f, 1])).reshape([d])); // (D)
  return {
    grads: { W_enc: enc.out, b_enc: enc.sums, W_dec: dwDec, b_dec: dbDec },
    mse,
    aux,
    fired: main.counts,
  };
}
