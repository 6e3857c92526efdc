;; WebAssembly SIMD (128-bit) kernels for products with a sparse matrix S held row by row (CSR: row r's
;; entries are t in [ptr[r], ptr[r+1]), at column col[t] with value coef[t]), working in place on
;; tfjs-backend-wasm's heap like simd_kernels.wat: every pointer is a byte offset into the heap. sparse.ts
;; loads the module and calls it; the top-k SAE's training step is the user (src/sae/sparse_grads.ts).
;;
;; spmm_rows:   out (rows, d) = bias + S (rows, n) R (n, d)   (out_r = bias + Σ_t coef[t] R[col[t]])
;; masked_dots: out (rows, k) = A[r] · R[col[r, j]] where coef[r, j] > 0, else 0   (fixed k per row)
;;
;; Both require d % 4 == 0 (sparse.ts uses its JS loops otherwise). spmm_rows adds four entries per pass
;; over the output row, so each 4-float chunk of the row costs 5 loads and 1 store for 16 multiply-adds;
;; masked_dots computes four dot products per pass over A's row. The sums are in float32, in that order.
(module
  (import "env" "memory" (memory 0))

  ;; out[r] = (has_bias ? bias : 0) + Σ_{t in [ptr[r], ptr[r+1])} coef[t] rhs[col[t]], rows of d floats.
  (func (export "spmm_rows") (param $ptr i32) (param $col i32) (param $coef i32) (param $rhs i32)
    (param $bias i32) (param $has_bias i32) (param $out i32) (param $rows i32) (param $d i32)
    (local $r i32) (local $t i32) (local $end i32) (local $o i32) (local $i i32) (local $nb i32)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $e i32) (local $ci i32)
    (local.set $nb (i32.shl (local.get $d) (i32.const 2)))
    (local.set $o (local.get $out))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (if (local.get $has_bias)
          (then (memory.copy (local.get $o) (local.get $bias) (local.get $nb)))
          (else (memory.fill (local.get $o) (i32.const 0) (local.get $nb))))
        (local.set $e (i32.add (local.get $ptr) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $t (i32.load (local.get $e)))
        (local.set $end (i32.load offset=4 (local.get $e)))
        ;; four entries per pass over the row
        (block $quads_done
          (loop $quads
            (br_if $quads_done (i32.gt_s (i32.add (local.get $t) (i32.const 4)) (local.get $end)))
            (local.set $e (i32.add (local.get $coef) (i32.shl (local.get $t) (i32.const 2))))
            (local.set $c0 (v128.load32_splat (local.get $e)))
            (local.set $c1 (v128.load32_splat offset=4 (local.get $e)))
            (local.set $c2 (v128.load32_splat offset=8 (local.get $e)))
            (local.set $c3 (v128.load32_splat offset=12 (local.get $e)))
            (local.set $ci (i32.add (local.get $col) (i32.shl (local.get $t) (i32.const 2))))
            (local.set $p0 (i32.add (local.get $rhs) (i32.mul (i32.load (local.get $ci)) (local.get $nb))))
            (local.set $p1 (i32.add (local.get $rhs) (i32.mul (i32.load offset=4 (local.get $ci)) (local.get $nb))))
            (local.set $p2 (i32.add (local.get $rhs) (i32.mul (i32.load offset=8 (local.get $ci)) (local.get $nb))))
            (local.set $p3 (i32.add (local.get $rhs) (i32.mul (i32.load offset=12 (local.get $ci)) (local.get $nb))))
            (local.set $i (i32.const 0))
            (block $d_done
              (loop $d_loop
                (br_if $d_done (i32.ge_u (local.get $i) (local.get $nb)))
                (v128.store (i32.add (local.get $o) (local.get $i))
                  (f32x4.add (v128.load (i32.add (local.get $o) (local.get $i)))
                    (f32x4.add
                      (f32x4.add
                        (f32x4.mul (local.get $c0) (v128.load (i32.add (local.get $p0) (local.get $i))))
                        (f32x4.mul (local.get $c1) (v128.load (i32.add (local.get $p1) (local.get $i)))))
                      (f32x4.add
                        (f32x4.mul (local.get $c2) (v128.load (i32.add (local.get $p2) (local.get $i))))
                        (f32x4.mul (local.get $c3) (v128.load (i32.add (local.get $p3) (local.get $i))))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $d_loop)))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $quads)))
        ;; the last (end - t) % 4 entries one at a time
        (block $ones_done
          (loop $ones
            (br_if $ones_done (i32.ge_s (local.get $t) (local.get $end)))
            (local.set $c0 (v128.load32_splat (i32.add (local.get $coef) (i32.shl (local.get $t) (i32.const 2)))))
            (local.set $p0 (i32.add (local.get $rhs)
              (i32.mul (i32.load (i32.add (local.get $col) (i32.shl (local.get $t) (i32.const 2)))) (local.get $nb))))
            (local.set $i (i32.const 0))
            (block $d1_done
              (loop $d1
                (br_if $d1_done (i32.ge_u (local.get $i) (local.get $nb)))
                (v128.store (i32.add (local.get $o) (local.get $i))
                  (f32x4.add (v128.load (i32.add (local.get $o) (local.get $i)))
                    (f32x4.mul (local.get $c0) (v128.load (i32.add (local.get $p0) (local.get $i))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $d1)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $ones)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; Horizontal sum (l0 + l1) + (l2 + l3).
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; out[r, j] = coef[r, j] > 0 ? a[r] · rhs[col[r, j]] : 0 for r < rows, j < k; rows of d floats.
  (func (export "masked_dots") (param $a i32) (param $rhs i32) (param $col i32) (param $coef i32)
    (param $out i32) (param $rows i32) (param $k i32) (param $d i32)
    (local $r i32) (local $j i32) (local $t i32) (local $i i32) (local $nb i32) (local $ar i32) (local $ci i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $v v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $nb (i32.shl (local.get $d) (i32.const 2)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $ar (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $nb))))
        (local.set $j (i32.const 0))
        ;; four dot products per pass over a's row
        (block $quads_done
          (loop $quads
            (br_if $quads_done (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $k)))
            (local.set $t (i32.add (i32.mul (local.get $r) (local.get $k)) (local.get $j)))
            (local.set $ci (i32.add (local.get $col) (i32.shl (local.get $t) (i32.const 2))))
            (local.set $p0 (i32.add (local.get $rhs) (i32.mul (i32.load (local.get $ci)) (local.get $nb))))
            (local.set $p1 (i32.add (local.get $rhs) (i32.mul (i32.load offset=4 (local.get $ci)) (local.get $nb))))
            (local.set $p2 (i32.add (local.get $rhs) (i32.mul (i32.load offset=8 (local.get $ci)) (local.get $nb))))
            (local.set $p3 (i32.add (local.get $rhs) (i32.mul (i32.load offset=12 (local.get $ci)) (local.get $nb))))
            (local.set $s0 (v128.const i64x2 0 0))
            (local.set $s1 (v128.const i64x2 0 0))
            (local.set $s2 (v128.const i64x2 0 0))
            (local.set $s3 (v128.const i64x2 0 0))
            (local.set $i (i32.const 0))
            (block $d_done
              (loop $d_loop
                (br_if $d_done (i32.ge_u (local.get $i) (local.get $nb)))
                (local.set $v (v128.load (i32.add (local.get $ar) (local.get $i))))
                (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $p0) (local.get $i))))))
                (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $p1) (local.get $i))))))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $p2) (local.get $i))))))
                (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $p3) (local.get $i))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $d_loop)))
            (call $store_masked (local.get $out) (local.get $coef) (local.get $t) (local.get $s0))
            (call $store_masked (local.get $out) (local.get $coef) (i32.add (local.get $t) (i32.const 1)) (local.get $s1))
            (call $store_masked (local.get $out) (local.get $coef) (i32.add (local.get $t) (i32.const 2)) (local.get $s2))
            (call $store_masked (local.get $out) (local.get $coef) (i32.add (local.get $t) (i32.const 3)) (local.get $s3))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $quads)))
        ;; the last k % 4 entries of the row one at a time
        (block $ones_done
          (loop $ones
            (br_if $ones_done (i32.ge_s (local.get $j) (local.get $k)))
            (local.set $t (i32.add (i32.mul (local.get $r) (local.get $k)) (local.get $j)))
            (local.set $p0 (i32.add (local.get $rhs)
              (i32.mul (i32.load (i32.add (local.get $col) (i32.shl (local.get $t) (i32.const 2)))) (local.get $nb))))
            (local.set $s0 (v128.const i64x2 0 0))
            (local.set $i (i32.const 0))
            (block $d1_done
              (loop $d1
                (br_if $d1_done (i32.ge_u (local.get $i) (local.get $nb)))
                (local.set $s0 (f32x4.add (local.get $s0)
                  (f32x4.mul (v128.load (i32.add (local.get $ar) (local.get $i))) (v128.load (i32.add (local.get $p0) (local.get $i))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $d1)))
            (call $store_masked (local.get $out) (local.get $coef) (local.get $t) (local.get $s0))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $ones)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))

  ;; out[t] = coef[t] > 0 ? hsum(s) : 0
  (func $store_masked (param $out i32) (param $coef i32) (param $t i32) (param $s v128)
    (local $o i32)
    (local.set $o (i32.shl (local.get $t) (i32.const 2)))
    (f32.store (i32.add (local.get $out) (local.get $o))
      (select (call $hsum (local.get $s)) (f32.const 0)
        (f32.gt (f32.load (i32.add (local.get $coef) (local.get $o))) (f32.const 0)))))
)
