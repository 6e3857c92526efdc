;; WebAssembly SIMD (128-bit) kernels for exact GELU, LayerNorm, AdamW, column sums and softmax, working in place on
;; tfjs-backend-wasm's heap: the module imports that backend's memory, so every pointer below is a
;; byte offset into the heap (a tensor's memoryOffset). simd.ts loads it; gelu.ts, layernorm.ts,
;; optimizer.ts, wasm_kernels.ts and attention_kernel.ts call it. Compiled to simd_kernels.wasm by scripts/build_wasm.mjs.
;;
;; GELU forward, y = x Φ(x) = x (1 + erf(x/√2)) / 2, with erf(u) ≈ u P(u²) / Q(u²) on |u| <= 4: P of
;; degree 6, Q of degree 4 with positive coefficients (no pole), fitted by bounded least squares with
;; Lawson reweighting toward minimax (scripts/fit_normal_cdf.py): |erf error| < 5.5e-8 in float64;
;; in float32 here |GELU error| < 2.5e-7 max(1, |x|) (tested).
;;
;; GELU in training writes y = x Φ(x) and the derivative g = Φ(x) + x φ(x) in one pass, so that the
;; backward is the multiply dy g; g needs φ and so an exp anyway. With z = |x| and E = exp(-z²/2):
;;   Φ(-z) = E S(z),   S(z) ≈ t (a1 + t (a2 + ... + t a6)),   t = 1 / (1 + p z)
;;   Φ(x) = E S(z) for x < 0, else 1 - E S(z);   φ(x) = E / √(2π).
;; p and a1..a6 are a least-squares fit with Lawson reweighting toward minimax of the absolute error
;; of E S on z in [0, 12] (scripts/fit_normal_cdf.py): 3.9e-9 in float64; evaluated in float32 here,
;; |Φ error| < 2.5e-7 (tested). z is clamped to 12, where Φ(-12) = 2e-33. One exp serves Φ and φ.
;;
;; AdamW: one fused parameter update (and Σ g² for the clipping norm) instead of ~17 tfjs kernels and
;; their intermediate buffers per parameter tensor (lower peak memory). c1 = 1 - b1 and c2 = 1 - b2
;; arrive rounded from float64, as tfjs rounds a scalar operand.
;;
;; Column sums (the bias gradients) in float64, four rows per pass.
;;
;; Softmax rows (the attention probabilities) and their gradient, float32 throughout, with the exp of
;; the GELU training kernel; a row's last partial quad is padded (-inf for max and exp, 0 for the dot).
;;
;; LayerNorm rows: moments in float64 (f64x2 accumulators), everything else in float32x4; a row
;; width that is not a multiple of 4 finishes with scalar code. Backward accumulates dγ and dβ over
;; rows in a float64 scratch area of 16 D bytes that the caller allocates on the heap.
(module
  (import "env" "memory" (memory 0))

  ;; The first $count (1-3) floats at $p in lanes 0.., zeros after.
  (func $load_partial (param $p i32) (param $count i32) (result v128)
    (local $v v128)
    (local.set $v (f32x4.replace_lane 0 (v128.const i64x2 0 0) (f32.load (local.get $p))))
    (if (i32.gt_u (local.get $count) (i32.const 1))
      (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $p))))))
    (if (i32.gt_u (local.get $count) (i32.const 2))
      (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $p))))))
    (local.get $v))

  ;; Store lanes 0..$count-1 (1-3) of $v at $p.
  (func $store_partial (param $p i32) (param $v v128) (param $count i32)
    (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v)))
    (if (i32.gt_u (local.get $count) (i32.const 1))
      (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $v)))))
    (if (i32.gt_u (local.get $count) (i32.const 2))
      (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $v))))))

  ;; out[i] = GELU(x[i]) = x[i] (1 + erf(u)) / 2, u = x[i] / √2 clamped to ±4 (erf(4) = 1 - 1.5e-8),
  ;; erf(u) ≈ u P(u²) / Q(u²) (see the header): no exp, about half the work of the backward.
  (func (export "gelu") (param $x i32) (param $out i32) (param $n i32)
    (local $rest i32) (local $v v128) (local $u v128) (local $s v128) (local $p v128) (local $q v128) (local $res v128)
    (block $done
      (loop $quads
        (local.set $rest (local.get $n))
        (br_if $done (i32.le_s (local.get $rest) (i32.const 0)))
        (local.set $v (if (result v128) (i32.ge_s (local.get $rest) (i32.const 4))
          (then (v128.load (local.get $x)))
          (else (call $load_partial (local.get $x) (local.get $rest)))))
        ;; pmin(a, b) = b < a ? b : a keeps a NaN first operand, so NaN in gives NaN out
        (local.set $u (f32x4.pmax
          (f32x4.pmin (f32x4.mul (local.get $v) (v128.const f32x4 0.7071067811865476 0.7071067811865476 0.7071067811865476 0.7071067811865476))
            (v128.const f32x4 4 4 4 4))
          (v128.const f32x4 -4 -4 -4 -4)))
        (local.set $s (f32x4.mul (local.get $u) (local.get $u)))
        (local.set $p (v128.const f32x4 1.9219111263235685e-08 1.9219111263235685e-08 1.9219111263235685e-08 1.9219111263235685e-08))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 -1.9902939423906428e-06 -1.9902939423906428e-06 -1.9902939423906428e-06 -1.9902939423906428e-06)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 0.0001555111295386265 0.0001555111295386265 0.0001555111295386265 0.0001555111295386265)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 0.004291868764227198 0.004291868764227198 0.004291868764227198 0.004291868764227198)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 0.05242965567034034 0.05242965567034034 0.05242965567034034 0.05242965567034034)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 0.2139161619482621 0.2139161619482621 0.2139161619482621 0.2139161619482621)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $s)) (v128.const f32x4 1.1283786776248437 1.1283786776248437 1.1283786776248437 1.1283786776248437)))
        (local.set $q (v128.const f32x4 0.001097760174447403 0.001097760174447403 0.001097760174447403 0.001097760174447403))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (v128.const f32x4 0.015548654762817185 0.015548654762817185 0.015548654762817185 0.015548654762817185)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (v128.const f32x4 0.12078779820598369 0.12078779820598369 0.12078779820598369 0.12078779820598369)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (v128.const f32x4 0.5229059233114028 0.5229059233114028 0.5229059233114028 0.5229059233114028)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) (v128.const f32x4 1 1 1 1)))
        ;; y = x (0.5 + 0.5 erf)
        (local.set $res (f32x4.mul (local.get $v) (f32x4.add (v128.const f32x4 0.5 0.5 0.5 0.5)
          (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (f32x4.div (f32x4.mul (local.get $u) (local.get $p)) (local.get $q))))))
        (if (i32.ge_s (local.get $rest) (i32.const 4))
          (then (v128.store (local.get $out) (local.get $res)))
          (else (call $store_partial (local.get $out) (local.get $res) (local.get $rest))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $quads))))

  ;; For training: y[i] = GELU(x[i]) = x[i] Φ(x[i]) and g[i] = GELU'(x[i]) = Φ(x[i]) + x[i] φ(x[i]),
  ;; i < n, so the backward is one multiply dy g. One loop body for full quads and the last partial
  ;; one, so it stays inline: V8 does not inline wasm calls by default, and calls here cost ~2x.
  ;;
  ;; exp(w), w = -z²/2 in [-72, 0]: w = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 in two parts),
  ;; e^r by the degree-5 polynomial of softmax_rows (relative error 1.7e-7 in float32), 2^n as exponent
  ;; bits. n comes from the round-to-nearest of adding 1.5 2^23, whose low mantissa bits are n. The
  ;; degree-7 Taylor polynomial used before (1.1e-7) cost 9% more time for the same worst GELU and
  ;; GELU' errors (1.1e-7 and 2.0e-7 max(1, |x|) on a grid of [-14, 14]: the S fit dominates).
  (func (export "gelu_train") (param $x i32) (param $y i32) (param $g i32) (param $n i32)
    (local $rest i32) (local $v v128) (local $z v128) (local $k v128) (local $nf v128) (local $r v128)
    (local $e v128) (local $t v128) (local $s v128) (local $m v128) (local $phi v128) (local $res v128) (local $d v128)
    (block $done
      (loop $quads
        (local.set $rest (local.get $n))
        (br_if $done (i32.le_s (local.get $rest) (i32.const 0)))
        (local.set $v (if (result v128) (i32.ge_s (local.get $rest) (i32.const 4))
          (then (v128.load (local.get $x)))
          (else (call $load_partial (local.get $x) (local.get $rest)))))
        (local.set $z (f32x4.pmin (f32x4.abs (local.get $v)) (v128.const f32x4 12 12 12 12)))
        ;; k = -z²/2 log2e + 1.5 2^23: its float value minus 1.5 2^23 is n, its bits minus those of 1.5 2^23 too
        (local.set $k (f32x4.add (f32x4.mul (f32x4.mul (local.get $z) (local.get $z))
          (v128.const f32x4 -0.7213475204444817 -0.7213475204444817 -0.7213475204444817 -0.7213475204444817))
          (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $nf (f32x4.sub (local.get $k) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r (f32x4.sub
          (f32x4.sub (f32x4.mul (f32x4.mul (local.get $z) (local.get $z)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5))
            (f32x4.mul (local.get $nf) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
          (f32x4.mul (local.get $nf) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        (local.set $e (f32x4.add (f32x4.mul (v128.const f32x4 0.00829031 0.00829031 0.00829031 0.00829031) (local.get $r)) (v128.const f32x4 0.04189793 0.04189793 0.04189793 0.04189793)))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.16667636 0.16667636 0.16667636 0.16667636)))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.4999915 0.4999915 0.4999915 0.4999915)))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.99999971 0.99999971 0.99999971 0.99999971)))
        (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 1 1 1 1)))
        (local.set $e (f32x4.mul (local.get $e) (i32x4.add (i32x4.shl
          (i32x4.sub (local.get $k) (v128.const i32x4 0x4B400000 0x4B400000 0x4B400000 0x4B400000))
          (i32.const 23)) (v128.const i32x4 0x3F800000 0x3F800000 0x3F800000 0x3F800000))))
        (local.set $t (f32x4.div (v128.const f32x4 1 1 1 1)
          (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $z) (v128.const f32x4 0.276 0.276 0.276 0.276)))))
        (local.set $s (v128.const f32x4 -0.11345140157688054 -0.11345140157688054 -0.11345140157688054 -0.11345140157688054))
        (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $t)) (v128.const f32x4 0.44081183608387314 0.44081183608387314 0.44081183608387314 0.44081183608387314)))
        (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $t)) (v128.const f32x4 -0.3138565687046888 -0.3138565687046888 -0.3138565687046888 -0.3138565687046888)))
        (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $t)) (v128.const f32x4 0.32214947946473116 0.32214947946473116 0.32214947946473116 0.32214947946473116)))
        (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $t)) (v128.const f32x4 0.04672234287494084 0.04672234287494084 0.04672234287494084 0.04672234287494084)))
        (local.set $s (f32x4.add (f32x4.mul (local.get $s) (local.get $t)) (v128.const f32x4 0.11762430793831755 0.11762430793831755 0.11762430793831755 0.11762430793831755)))
        (local.set $m (f32x4.mul (local.get $e) (f32x4.mul (local.get $s) (local.get $t))))
        (local.set $phi (v128.bitselect (local.get $m) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $m))
          (f32x4.lt (local.get $v) (v128.const f32x4 0 0 0 0))))
        (local.set $res (f32x4.mul (local.get $v) (local.get $phi)))
        (local.set $d (f32x4.add (local.get $phi) (f32x4.mul (local.get $v) (f32x4.mul (local.get $e)
          (v128.const f32x4 0.3989422804014327 0.3989422804014327 0.3989422804014327 0.3989422804014327)))))
        (if (i32.ge_s (local.get $rest) (i32.const 4))
          (then
            (v128.store (local.get $y) (local.get $res))
            (v128.store (local.get $g) (local.get $d)))
          (else
            (call $store_partial (local.get $y) (local.get $res) (local.get $rest))
            (call $store_partial (local.get $g) (local.get $d) (local.get $rest))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $quads))))

  ;; Per row r < rows of x (rows, d): y = (x - μ) r γ + β, mean[r] = μ, rstd[r] = 1 / sqrt(σ² + eps).
  ;; The i8x16.shuffle moves lanes 2, 3 to 0, 1 for f64x2.promote_low_f32x4; helpers are inline
  ;; (V8 does not inline wasm calls by default: the calls doubled the time).
  (func (export "layer_norm") (param $x i32) (param $g i32) (param $b i32) (param $y i32)
      (param $mean i32) (param $rstd i32) (param $rows i32) (param $d i32) (param $eps f64)
    (local $row i32) (local $j i32) (local $d4 i32)
    (local $v v128) (local $lo v128) (local $hi v128)
    (local $s1 v128) (local $s2 v128) (local $q1 v128) (local $q2 v128)
    (local $a f64) (local $sum f64) (local $sq f64) (local $mu f64) (local $rs f64)
    (local $rs4 v128) (local $sh4 v128) (local $rsf f32) (local $shf f32)
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $s1 (v128.const i64x2 0 0))
        (local.set $s2 (v128.const i64x2 0 0))
        (local.set $q1 (v128.const i64x2 0 0))
        (local.set $q2 (v128.const i64x2 0 0))
        (local.set $j (i32.const 0))
        (block $m_done
          (loop $m
            (br_if $m_done (i32.ge_u (local.get $j) (local.get $d4)))
            (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $lo (f64x2.promote_low_f32x4 (local.get $v)))
            (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
            (local.set $s1 (f64x2.add (local.get $s1) (local.get $lo)))
            (local.set $s2 (f64x2.add (local.get $s2) (local.get $hi)))
            (local.set $q1 (f64x2.add (local.get $q1) (f64x2.mul (local.get $lo) (local.get $lo))))
            (local.set $q2 (f64x2.add (local.get $q2) (f64x2.mul (local.get $hi) (local.get $hi))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $m)))
        (local.set $s1 (f64x2.add (local.get $s1) (local.get $s2)))
        (local.set $sum (f64.add (f64x2.extract_lane 0 (local.get $s1)) (f64x2.extract_lane 1 (local.get $s1))))
        (local.set $q1 (f64x2.add (local.get $q1) (local.get $q2)))
        (local.set $sq (f64.add (f64x2.extract_lane 0 (local.get $q1)) (f64x2.extract_lane 1 (local.get $q1))))
        (block $mt_done
          (loop $mt
            (br_if $mt_done (i32.ge_u (local.get $j) (local.get $d)))
            (local.set $a (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $sum (f64.add (local.get $sum) (local.get $a)))
            (local.set $sq (f64.add (local.get $sq) (f64.mul (local.get $a) (local.get $a))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $mt)))
        (local.set $mu (f64.div (local.get $sum) (f64.convert_i32_u (local.get $d))))
        (local.set $rs (f64.div (f64.const 1) (f64.sqrt (f64.add (local.get $eps) (f64.max (f64.const 0)
          (f64.sub (f64.div (local.get $sq) (f64.convert_i32_u (local.get $d))) (f64.mul (local.get $mu) (local.get $mu))))))))
        (f32.store (i32.add (local.get $mean) (i32.shl (local.get $row) (i32.const 2))) (f32.demote_f64 (local.get $mu)))
        (f32.store (i32.add (local.get $rstd) (i32.shl (local.get $row) (i32.const 2))) (f32.demote_f64 (local.get $rs)))
        (local.set $rsf (f32.demote_f64 (local.get $rs)))
        (local.set $shf (f32.demote_f64 (f64.neg (f64.mul (local.get $mu) (local.get $rs)))))
        (local.set $rs4 (f32x4.splat (local.get $rsf)))
        (local.set $sh4 (f32x4.splat (local.get $shf)))
        (local.set $j (i32.const 0))
        (block $n_done
          (loop $n
            (br_if $n_done (i32.ge_u (local.get $j) (local.get $d4)))
            (v128.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2)))
              (f32x4.add
                (f32x4.mul
                  (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rs4)) (local.get $sh4))
                  (v128.load (i32.add (local.get $g) (i32.shl (local.get $j) (i32.const 2)))))
                (v128.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $n)))
        (block $nt_done
          (loop $nt
            (br_if $nt_done (i32.ge_u (local.get $j) (local.get $d)))
            (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2)))
              (f32.add
                (f32.mul
                  (f32.add (f32.mul (f32.load (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rsf)) (local.get $shf))
                  (f32.load (i32.add (local.get $g) (i32.shl (local.get $j) (i32.const 2)))))
                (f32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $nt)))
        (local.set $x (i32.add (local.get $x) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows))))

  ;; LayerNorm backward over rows of (rows, d), with x̂ = (x - μ) r and g = dy γ:
  ;;   dx = r (g - mean(g) - x̂ mean(g x̂)),  dγ = Σ_rows dy x̂,  dβ = Σ_rows dy.
  ;; $acc: 16 d bytes of 8-byte-aligned scratch (float64 dγ then dβ accumulators).
  (func (export "layer_norm_grad") (param $dy i32) (param $x i32) (param $g i32) (param $mean i32)
      (param $rstd i32) (param $dx i32) (param $dg i32) (param $db i32) (param $acc i32)
      (param $rows i32) (param $d i32)
    (local $row i32) (local $j i32) (local $d4 i32) (local $off i32) (local $accb i32) (local $p i32)
    (local $mu4 v128) (local $rs4 v128) (local $dyv v128) (local $h v128) (local $gg v128)
    (local $sg1 v128) (local $sg2 v128) (local $sx1 v128) (local $sx2 v128) (local $a4 v128) (local $b4 v128)
    (local $muf f32) (local $rsf f32) (local $dys f32) (local $hs f32) (local $gs f32)
    (local $sg f64) (local $sgx f64) (local $af f32) (local $bf f32)
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (local.set $accb (i32.add (local.get $acc) (i32.shl (local.get $d) (i32.const 3))))
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $d) (i32.const 4)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $muf (f32.load (i32.add (local.get $mean) (i32.shl (local.get $row) (i32.const 2)))))
        (local.set $rsf (f32.load (i32.add (local.get $rstd) (i32.shl (local.get $row) (i32.const 2)))))
        (local.set $mu4 (f32x4.splat (local.get $muf)))
        (local.set $rs4 (f32x4.splat (local.get $rsf)))
        (local.set $sg1 (v128.const i64x2 0 0))
        (local.set $sg2 (v128.const i64x2 0 0))
        (local.set $sx1 (v128.const i64x2 0 0))
        (local.set $sx2 (v128.const i64x2 0 0))
        (local.set $j (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.ge_u (local.get $j) (local.get $d4)))
            (local.set $off (i32.shl (local.get $j) (i32.const 2)))
            (local.set $dyv (v128.load (i32.add (local.get $dy) (local.get $off))))
            (local.set $h (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $mu4)) (local.get $rs4)))
            (local.set $gg (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $g) (local.get $off)))))
            (local.set $sg1 (f64x2.add (local.get $sg1) (f64x2.promote_low_f32x4 (local.get $gg))))
            (local.set $sg2 (f64x2.add (local.get $sg2) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gg) (local.get $gg)))))
            (local.set $gg (f32x4.mul (local.get $gg) (local.get $h)))
            (local.set $sx1 (f64x2.add (local.get $sx1) (f64x2.promote_low_f32x4 (local.get $gg))))
            (local.set $sx2 (f64x2.add (local.get $sx2) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gg) (local.get $gg)))))
            ;; dγ and dβ accumulators for columns j..j+3
            (local.set $gg (f32x4.mul (local.get $dyv) (local.get $h)))
            (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (f64x2.promote_low_f32x4 (local.get $gg))))
            (v128.store offset=16 (local.get $p) (f64x2.add (v128.load offset=16 (local.get $p))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gg) (local.get $gg)))))
            (local.set $p (i32.add (local.get $accb) (i32.shl (local.get $j) (i32.const 3))))
            (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (f64x2.promote_low_f32x4 (local.get $dyv))))
            (v128.store offset=16 (local.get $p) (f64x2.add (v128.load offset=16 (local.get $p))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $dyv) (local.get $dyv)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $s)))
        (local.set $sg1 (f64x2.add (local.get $sg1) (local.get $sg2)))
        (local.set $sg (f64.add (f64x2.extract_lane 0 (local.get $sg1)) (f64x2.extract_lane 1 (local.get $sg1))))
        (local.set $sx1 (f64x2.add (local.get $sx1) (local.get $sx2)))
        (local.set $sgx (f64.add (f64x2.extract_lane 0 (local.get $sx1)) (f64x2.extract_lane 1 (local.get $sx1))))
        (block $st_done
          (loop $st
            (br_if $st_done (i32.ge_u (local.get $j) (local.get $d)))
            (local.set $off (i32.shl (local.get $j) (i32.const 2)))
            (local.set $dys (f32.load (i32.add (local.get $dy) (local.get $off))))
            (local.set $hs (f32.mul (f32.sub (f32.load (i32.add (local.get $x) (local.get $off))) (local.get $muf)) (local.get $rsf)))
            (local.set $gs (f32.mul (local.get $dys) (f32.load (i32.add (local.get $g) (local.get $off)))))
            (local.set $sg (f64.add (local.get $sg) (f64.promote_f32 (local.get $gs))))
            (local.set $sgx (f64.add (local.get $sgx) (f64.promote_f32 (f32.mul (local.get $gs) (local.get $hs)))))
            (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (f64.store (local.get $p) (f64.add (f64.load (local.get $p)) (f64.promote_f32 (f32.mul (local.get $dys) (local.get $hs)))))
            (local.set $p (i32.add (local.get $accb) (i32.shl (local.get $j) (i32.const 3))))
            (f64.store (local.get $p) (f64.add (f64.load (local.get $p)) (f64.promote_f32 (local.get $dys))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $st)))
        (local.set $af (f32.demote_f64 (f64.div (local.get $sg) (f64.convert_i32_u (local.get $d)))))
        (local.set $bf (f32.demote_f64 (f64.div (local.get $sgx) (f64.convert_i32_u (local.get $d)))))
        (local.set $a4 (f32x4.splat (local.get $af)))
        (local.set $b4 (f32x4.splat (local.get $bf)))
        (local.set $j (i32.const 0))
        (block $x_done
          (loop $xq
            (br_if $x_done (i32.ge_u (local.get $j) (local.get $d4)))
            (local.set $off (i32.shl (local.get $j) (i32.const 2)))
            (local.set $h (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $mu4)) (local.get $rs4)))
            (v128.store (i32.add (local.get $dx) (local.get $off))
              (f32x4.mul (local.get $rs4) (f32x4.sub
                (f32x4.sub (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $off))) (v128.load (i32.add (local.get $g) (local.get $off)))) (local.get $a4))
                (f32x4.mul (local.get $h) (local.get $b4)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $xq)))
        (block $xt_done
          (loop $xt
            (br_if $xt_done (i32.ge_u (local.get $j) (local.get $d)))
            (local.set $off (i32.shl (local.get $j) (i32.const 2)))
            (local.set $hs (f32.mul (f32.sub (f32.load (i32.add (local.get $x) (local.get $off))) (local.get $muf)) (local.get $rsf)))
            (f32.store (i32.add (local.get $dx) (local.get $off))
              (f32.mul (local.get $rsf) (f32.sub
                (f32.sub (f32.mul (f32.load (i32.add (local.get $dy) (local.get $off))) (f32.load (i32.add (local.get $g) (local.get $off)))) (local.get $af))
                (f32.mul (local.get $hs) (local.get $bf)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $xt)))
        (local.set $off (i32.shl (local.get $d) (i32.const 2)))
        (local.set $dy (i32.add (local.get $dy) (local.get $off)))
        (local.set $x (i32.add (local.get $x) (local.get $off)))
        (local.set $dx (i32.add (local.get $dx) (local.get $off)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows)))
    (local.set $j (i32.const 0))
    (block $c_done
      (loop $c
        (br_if $c_done (i32.ge_u (local.get $j) (local.get $d)))
        (f32.store (i32.add (local.get $dg) (i32.shl (local.get $j) (i32.const 2)))
          (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))))
        (f32.store (i32.add (local.get $db) (i32.shl (local.get $j) (i32.const 2)))
          (f32.demote_f64 (f64.load (i32.add (local.get $accb) (i32.shl (local.get $j) (i32.const 3))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $c))))

  ;; One AdamW step for n parameters (the op order of optimizer.ts's composite, float32 throughout, so
  ;; the result is bitwise the same):  g' = g scale,  m' = b1 m + c1 g',  v' = b2 v + c2 g'²
  ;;   p' = p decay - lr (m' / bc1) / (sqrt(v' / bc2) + eps)
  ;; An output may be its own input ($po = $p, $mo = $m, $vo = $v: the update in place), as every quad
  ;; is read whole before it is written; outputs must not overlap inputs otherwise.
  (func (export "adamw") (param $p i32) (param $g i32) (param $m i32) (param $v i32)
      (param $po i32) (param $mo i32) (param $vo i32) (param $n i32)
      (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $bc1 f32) (param $bc2 f32)
      (param $lr f32) (param $decay f32) (param $eps f32)
    (local $rest i32) (local $gv v128) (local $mv v128) (local $vv v128) (local $pv v128)
    (local $scale4 v128) (local $b14 v128) (local $c14 v128) (local $b24 v128) (local $c24 v128)
    (local $bc14 v128) (local $bc24 v128) (local $lr4 v128) (local $decay4 v128) (local $eps4 v128)
    (local.set $scale4 (f32x4.splat (local.get $scale)))
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $c14 (f32x4.splat (local.get $c1)))
    (local.set $b24 (f32x4.splat (local.get $b2)))
    (local.set $c24 (f32x4.splat (local.get $c2)))
    (local.set $bc14 (f32x4.splat (local.get $bc1)))
    (local.set $bc24 (f32x4.splat (local.get $bc2)))
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $decay4 (f32x4.splat (local.get $decay)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (block $done
      (loop $quads
        (local.set $rest (local.get $n))
        (br_if $done (i32.le_s (local.get $rest) (i32.const 0)))
        (if (i32.ge_s (local.get $rest) (i32.const 4))
          (then
            (local.set $pv (v128.load (local.get $p)))
            (local.set $gv (v128.load (local.get $g)))
            (local.set $mv (v128.load (local.get $m)))
            (local.set $vv (v128.load (local.get $v))))
          (else
            (local.set $pv (call $load_partial (local.get $p) (local.get $rest)))
            (local.set $gv (call $load_partial (local.get $g) (local.get $rest)))
            (local.set $mv (call $load_partial (local.get $m) (local.get $rest)))
            (local.set $vv (call $load_partial (local.get $v) (local.get $rest)))))
        (local.set $gv (f32x4.mul (local.get $gv) (local.get $scale4)))
        (local.set $mv (f32x4.add (f32x4.mul (local.get $mv) (local.get $b14)) (f32x4.mul (local.get $gv) (local.get $c14))))
        (local.set $vv (f32x4.add (f32x4.mul (local.get $vv) (local.get $b24))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $c24))))
        (local.set $pv (f32x4.sub (f32x4.mul (local.get $pv) (local.get $decay4))
          (f32x4.mul (f32x4.div (f32x4.div (local.get $mv) (local.get $bc14))
            (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $bc24))) (local.get $eps4)))
            (local.get $lr4))))
        (if (i32.ge_s (local.get $rest) (i32.const 4))
          (then
            (v128.store (local.get $po) (local.get $pv))
            (v128.store (local.get $mo) (local.get $mv))
            (v128.store (local.get $vo) (local.get $vv)))
          (else
            (call $store_partial (local.get $po) (local.get $pv) (local.get $rest))
            (call $store_partial (local.get $mo) (local.get $mv) (local.get $rest))
            (call $store_partial (local.get $vo) (local.get $vv) (local.get $rest))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $m (i32.add (local.get $m) (i32.const 16)))
        (local.set $v (i32.add (local.get $v) (i32.const 16)))
        (local.set $po (i32.add (local.get $po) (i32.const 16)))
        (local.set $mo (i32.add (local.get $mo) (i32.const 16)))
        (local.set $vo (i32.add (local.get $vo) (i32.const 16)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $quads))))

  ;; Σ x[i]² for i < n, float64 accumulation.
  (func (export "sum_squares") (param $x i32) (param $n i32) (result f64)
    (local $lo v128) (local $hi v128) (local $a1 v128) (local $a2 v128) (local $v v128) (local $rest i32)
    (block $done
      (loop $quads
        (local.set $rest (local.get $n))
        (br_if $done (i32.le_s (local.get $rest) (i32.const 0)))
        (local.set $v (if (result v128) (i32.ge_s (local.get $rest) (i32.const 4))
          (then (v128.load (local.get $x)))
          (else (call $load_partial (local.get $x) (local.get $rest)))))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $v)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $n (i32.sub (local.get $n) (i32.const 4)))
        (br $quads)))
    (local.set $a1 (f64x2.add (local.get $a1) (local.get $a2)))
    (f64.add (f64x2.extract_lane 0 (local.get $a1)) (f64x2.extract_lane 1 (local.get $a1))))

  ;; Column sums of x (rows, cols) into out (cols): four rows at a time are promoted to float64 and
  ;; added into float64 accumulators at $acc (8 cols bytes, 8-byte aligned), rounded once at the end.
  ;; The bias gradient of every Linear.
  (func (export "sum_leading") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $acc i32)
    (local $r i32) (local $j i32) (local $c4 i32) (local $stride i32) (local $p i32) (local $a i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $stride (i32.shl (local.get $cols) (i32.const 2)))
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $cols) (i32.const 3)))
    (block $quads_done
      (loop $quads
        (br_if $quads_done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols4
            (br_if $cols_done (i32.ge_u (local.get $j) (local.get $c4)))
            (local.set $p (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $j)) (i32.const 2))))
            (local.set $v0 (v128.load (local.get $p)))
            (local.set $v1 (v128.load (i32.add (local.get $p) (local.get $stride))))
            (local.set $v2 (v128.load (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1)))))
            (local.set $v3 (v128.load (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const 3)))))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a))
              (f64x2.add
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $v0)) (f64x2.promote_low_f32x4 (local.get $v1)))
                (f64x2.add (f64x2.promote_low_f32x4 (local.get $v2)) (f64x2.promote_low_f32x4 (local.get $v3))))))
            (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
              (f64x2.add
                (f64x2.add
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v0) (local.get $v0)))
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v1) (local.get $v1))))
                (f64x2.add
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v2) (local.get $v2)))
                  (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v3) (local.get $v3)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cols4)))
        ;; columns past the last multiple of 4, for these four rows
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $p (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $j)) (i32.const 2))))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.add
              (f64.add (f64.promote_f32 (f32.load (local.get $p))) (f64.promote_f32 (f32.load (i32.add (local.get $p) (local.get $stride)))))
              (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1)))))
                (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const 3)))))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $quads)))
    ;; the last rows % 4 rows, one element at a time
    (block $rest_done
      (loop $rest
        (br_if $rest_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $row_done
          (loop $row
            (br_if $row_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load
              (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $j)) (i32.const 2)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $row)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rest)))
    (local.set $j (i32.const 0))
    (block $out_done
      (loop $store
        (br_if $out_done (i32.ge_u (local.get $j) (local.get $cols)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
          (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $store))))

  ;; Σ of the four lanes of $v.
  (func $hsum (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; Softmax of each row of x (rows, n) in place, rows stored ceil(n/4)*4 floats apart so that every
  ;; quad is whole: the lanes past n read as -inf and are written as 0. e = exp(x - max), then e / Σ e.
  ;; Each row's last quad gets -inf in the lanes past n first, so the max and exp loops need no lane
  ;; masks (6% less time per element at n = 17 and at n = 65).
  ;; exp(w) for w = x - max <= 0 clamped to -86 (so 2^n stays a normal float; below it the result is
  ;; 0, as e^-86 = 4.5e-38 is): w = n ln2 + r as in gelu_train, e^r by a degree-5 polynomial fitted
  ;; for relative error on |r| <= ln2/2 (Lawson-weighted least squares): 1.7e-7 in float32.
  (func (export "softmax_rows") (param $x i32) (param $rows i32) (param $n i32)
    (local $p i32) (local $end i32) (local $last i32) (local $width i32) (local $live v128) (local $m v128) (local $mx v128) (local $v v128)
    (local $w v128) (local $k v128) (local $nf v128) (local $r v128) (local $e v128) (local $s v128) (local $inv v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    ;; bytes per row, the last quad's byte offset in a row, and which of its lanes are live
    (local.set $width (i32.shl (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (i32.const 2)))
    (local.set $last (i32.sub (local.get $width) (i32.const 16)))
    (local.set $live (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (i32.sub (local.get $n) (i32.shr_u (local.get $last) (i32.const 2))))))
    (block $done
      (loop $row
        (br_if $done (i32.le_s (local.get $rows) (i32.const 0)))
        (local.set $end (i32.add (local.get $x) (local.get $width)))
        (local.set $p (i32.add (local.get $x) (local.get $last)))
        (v128.store (local.get $p) (v128.bitselect (v128.load (local.get $p)) (v128.const f32x4 -inf -inf -inf -inf) (local.get $live)))
        ;; max
        (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $p (local.get $x))
        (loop $max
          (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $max (i32.lt_u (local.get $p) (local.get $end))))
        (local.set $m (f32x4.max (local.get $m) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m))))
        (local.set $mx (f32x4.max (local.get $m) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $m) (local.get $m))))
        ;; e = exp(x - max), Σ e
        (local.set $s (v128.const f32x4 0 0 0 0))
        (local.set $p (local.get $x))
        (loop $exp
          (local.set $v (f32x4.sub (v128.load (local.get $p)) (local.get $mx)))
          (local.set $w (f32x4.pmax (local.get $v) (v128.const f32x4 -86 -86 -86 -86)))
          (local.set $k (f32x4.add (f32x4.mul (local.get $w) (v128.const f32x4 1.4426950408889634 1.4426950408889634 1.4426950408889634 1.4426950408889634)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
          (local.set $nf (f32x4.sub (local.get $k) (v128.const f32x4 12582912 12582912 12582912 12582912)))
          (local.set $r (f32x4.sub (f32x4.sub (local.get $w) (f32x4.mul (local.get $nf) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
            (f32x4.mul (local.get $nf) (v128.const f32x4 -0.00021219444 -0.00021219444 -0.00021219444 -0.00021219444))))
          (local.set $e (f32x4.add (f32x4.mul (v128.const f32x4 0.00829031 0.00829031 0.00829031 0.00829031) (local.get $r)) (v128.const f32x4 0.04189793 0.04189793 0.04189793 0.04189793)))
          (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.16667636 0.16667636 0.16667636 0.16667636)))
          (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.4999915 0.4999915 0.4999915 0.4999915)))
          (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 0.99999971 0.99999971 0.99999971 0.99999971)))
          (local.set $e (f32x4.add (f32x4.mul (local.get $e) (local.get $r)) (v128.const f32x4 1 1 1 1)))
          (local.set $e (f32x4.mul (local.get $e) (i32x4.add (i32x4.shl
            (i32x4.sub (local.get $k) (v128.const i32x4 0x4B400000 0x4B400000 0x4B400000 0x4B400000))
            (i32.const 23)) (v128.const i32x4 0x3F800000 0x3F800000 0x3F800000 0x3F800000))))
          ;; 0 below -86, in the lanes past n (-inf), and for NaN (the compare is false)
          (local.set $e (v128.and (local.get $e) (f32x4.ge (local.get $v) (v128.const f32x4 -86 -86 -86 -86))))
          (v128.store (local.get $p) (local.get $e))
          (local.set $s (f32x4.add (local.get $s) (local.get $e)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $exp (i32.lt_u (local.get $p) (local.get $end))))
        ;; e / Σ e
        (local.set $inv (f32x4.splat (f32.div (f32.const 1) (call $hsum (local.get $s)))))
        (loop $scale
          (local.set $p (i32.sub (local.get $p) (i32.const 16)))
          (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $inv)))
          (br_if $scale (i32.gt_u (local.get $p) (local.get $x))))
        (local.set $x (local.get $end))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; The softmax gradient per row of p and dp (rows, n), laid out as for softmax_rows, written over dp:
  ;; dp = p (dp - Σ dp p), and each row's Σ dp p to dots (rows). The lanes past n are ignored (they may
  ;; hold anything) and written as 0.
  (func (export "softmax_grad_rows") (param $pp i32) (param $dp i32) (param $dots i32) (param $rows i32) (param $n i32)
    (local $a i32) (local $b i32) (local $rest i32) (local $s v128) (local $dot v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (block $done
      (loop $row
        (br_if $done (i32.le_s (local.get $rows) (i32.const 0)))
        (local.set $s (v128.const f32x4 0 0 0 0))
        (local.set $a (local.get $pp))
        (local.set $b (local.get $dp))
        (local.set $rest (local.get $n))
        (loop $dotl
          (local.set $s (f32x4.add (local.get $s) (v128.and (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))
            (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $rest))))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (local.set $rest (i32.sub (local.get $rest) (i32.const 4)))
          (br_if $dotl (i32.gt_s (local.get $rest) (i32.const 0))))
        (f32.store (local.get $dots) (call $hsum (local.get $s)))
        (local.set $dot (f32x4.splat (f32.load (local.get $dots))))
        (local.set $dots (i32.add (local.get $dots) (i32.const 4)))
        (local.set $a (local.get $pp))
        (local.set $b (local.get $dp))
        (local.set $rest (local.get $n))
        (loop $grad
          (v128.store (local.get $b) (v128.and
            (f32x4.mul (v128.load (local.get $a)) (f32x4.sub (v128.load (local.get $b)) (local.get $dot)))
            (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $rest)))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (local.set $rest (i32.sub (local.get $rest) (i32.const 4)))
          (br_if $grad (i32.gt_s (local.get $rest) (i32.const 0))))
        (local.set $pp (local.get $a))
        (local.set $dp (local.get $b))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))
)
