;; WebAssembly SIMD (128-bit) kernels for products with a sparse matrix S held row by row (CSR: row r's
;; entries are t in [ptr[r], ptr[r+1]), at column col[t] with value coef[t]), working in place on
;; tfjs-backend-wasm's heap like simd_kernels.wat: every pointer is a byte offset into the heap. sparse.ts
;; loads the module and calls it; the top-k SAE's training step is the user (src/sae/sparse_grads.ts).
;;
;; spmm_rows:   out (rows, d) = bias + S (rows, n) R (n, d)   (out_r = bias + Σ_t coef[t] R[col[t]])
;; masked_dots: out (rows, k) = A[r] · R[col[r, j]] where coef[r, j] > 0, else 0   (fixed k per row)
;; topk_relu_sparse: ReLU(TopK_k) of each row into such a code (the SAE's selection, see below)
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
;; Where a row's entry bar starts (topk_kernel.ts startBar): the float32 just below the smallest of the
;; maxima of kk groups of floor(cols / kk) entries, or 0 when that is not positive or the groups are
;; shorter than 8. Group maxima by f32x4.pmax when the group length is a multiple of 4 (pmax keeps the
;; accumulator when the entry is NaN, as the scalar v > m test does).
  (func $start_bar (param $row i32) (param $cols i32) (param $kk i32) (result f32)
    (local $g i32) (local $q i32) (local $p i32) (local $end i32) (local $lb f32) (local $m f32) (local $v f32) (local $acc v128)
    (local.set $g (i32.div_u (local.get $cols) (local.get $kk)))
    (if (i32.lt_u (local.get $g) (i32.const 8)) (then (return (f32.const 0))))
    (local.set $lb (f32.const inf))
    (local.set $p (local.get $row))
    (block $groups_done
      (loop $groups
        (br_if $groups_done (i32.ge_u (local.get $q) (local.get $kk)))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $g) (i32.const 2))))
        (if (i32.eqz (i32.and (local.get $g) (i32.const 3)))
          (then
            (local.set $acc (v128.const f32x4 -inf -inf -inf -inf))
            (loop $quads
              (local.set $acc (f32x4.pmax (local.get $acc) (v128.load (local.get $p))))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (br_if $quads (i32.lt_u (local.get $p) (local.get $end))))
            (local.set $m (f32.max
              (f32.max (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
              (f32.max (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))))
          (else
            (local.set $m (f32.const -inf))
            (loop $ones
              (local.set $v (f32.load (local.get $p)))
              (if (f32.gt (local.get $v) (local.get $m)) (then (local.set $m (local.get $v))))
              (local.set $p (i32.add (local.get $p) (i32.const 4)))
              (br_if $ones (i32.lt_u (local.get $p) (local.get $end))))))
        (local.set $lb (f32.min (local.get $lb) (local.get $m)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $groups)))
    (if (result f32) (f32.gt (local.get $lb) (f32.const 0))
      (then (f32.reinterpret_i32 (i32.sub (i32.reinterpret_f32 (local.get $lb)) (i32.const 1))))
      (else (f32.const 0))))

;; ReLU(TopK_k) of each row of src (rows, cols) as a k-sparse code: values (rows, kk) and column indices
;; (rows, kk) int32, kk = min(k, cols). The selection is src/sae/topk_kernel.ts's, instruction for
;; instruction: a min-heap of the kept (value, column) pairs ordered by (value asc, column desc), an
;; entry bar from $start_bar until it is full and then the root's value, strict compares, so ties keep the lower
;; column and NaN is never kept. Here four entries at a time are tested against the bar with one
;; SIMD compare; only a quad with a candidate goes through the scalar heap code. The heap lives in
;; the row's slots of values and indices; slots past the number kept get (0, 0).
  (func (export "topk_relu_sparse") (param $src i32) (param $values i32) (param $indices i32)
    (param $rows i32) (param $cols i32) (param $kk i32)
    (local $r i32) (local $row i32) (local $hv i32) (local $hi i32) (local $n i32) (local $bar f32)
    (local $j i32) (local $lim i32) (local $v f32) (local $c i32) (local $p i32) (local $l i32)
    (local $m i32) (local $rr i32) (local $vl f32) (local $vr f32)
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
        (local.set $hv (i32.add (local.get $values) (i32.shl (i32.mul (local.get $r) (local.get $kk)) (i32.const 2))))
        (local.set $hi (i32.add (local.get $indices) (i32.shl (i32.mul (local.get $r) (local.get $kk)) (i32.const 2))))
        (local.set $n (i32.const 0))
        (local.set $bar (call $start_bar (local.get $row) (local.get $cols) (local.get $kk)))
        (local.set $j (i32.const 0))
        (block $scan_done
          (loop $scan
            (br_if $scan_done (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $lim (i32.add (local.get $j) (i32.const 4)))
            (if (i32.le_u (local.get $lim) (local.get $cols))
              (then
                (if (i32.eqz (v128.any_true (f32x4.gt
                      (v128.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
                      (f32x4.splat (local.get $bar)))))
                  (then
                    (local.set $j (local.get $lim))
                    (br $scan))))
              (else (local.set $lim (local.get $cols))))
            ;; entries j..lim one by one (the bar may rise within the quad)
            (loop $each
              (local.set $v (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
              (if (f32.gt (local.get $v) (local.get $bar))
                (then
                  (if (i32.lt_u (local.get $n) (local.get $kk))
                    (then
                      ;; sift up: on equal values the new (highest) column loses first, so it rises
                      (local.set $c (local.get $n))
                      (local.set $n (i32.add (local.get $n) (i32.const 1)))
                      (block $up_done
                        (loop $up
                          (br_if $up_done (i32.eqz (local.get $c)))
                          (local.set $p (i32.shr_u (i32.sub (local.get $c) (i32.const 1)) (i32.const 1)))
                          (br_if $up_done (f32.lt (f32.load (i32.add (local.get $hv) (i32.shl (local.get $p) (i32.const 2)))) (local.get $v)))
                          (f32.store (i32.add (local.get $hv) (i32.shl (local.get $c) (i32.const 2)))
                            (f32.load (i32.add (local.get $hv) (i32.shl (local.get $p) (i32.const 2)))))
                          (i32.store (i32.add (local.get $hi) (i32.shl (local.get $c) (i32.const 2)))
                            (i32.load (i32.add (local.get $hi) (i32.shl (local.get $p) (i32.const 2)))))
                          (local.set $c (local.get $p))
                          (br $up)))
                      (f32.store (i32.add (local.get $hv) (i32.shl (local.get $c) (i32.const 2))) (local.get $v))
                      (i32.store (i32.add (local.get $hi) (i32.shl (local.get $c) (i32.const 2))) (local.get $j))
                      (if (i32.eq (local.get $n) (local.get $kk))
                        (then (local.set $bar (f32.load (local.get $hv))))))
                    (else
                      ;; v beats the root: replace it and sift down
                      (local.set $c (i32.const 0))
                      (block $down_done
                        (loop $down
                          (local.set $l (i32.add (i32.shl (local.get $c) (i32.const 1)) (i32.const 1)))
                          (br_if $down_done (i32.ge_u (local.get $l) (local.get $kk)))
                          (local.set $m (local.get $l))
                          (local.set $rr (i32.add (local.get $l) (i32.const 1)))
                          (if (i32.lt_u (local.get $rr) (local.get $kk))
                            (then
                              (local.set $vl (f32.load (i32.add (local.get $hv) (i32.shl (local.get $l) (i32.const 2)))))
                              (local.set $vr (f32.load (i32.add (local.get $hv) (i32.shl (local.get $rr) (i32.const 2)))))
                              (if (i32.or (f32.lt (local.get $vr) (local.get $vl))
                                    (i32.and (f32.eq (local.get $vr) (local.get $vl))
                                      (i32.gt_s (i32.load (i32.add (local.get $hi) (i32.shl (local.get $rr) (i32.const 2))))
                                        (i32.load (i32.add (local.get $hi) (i32.shl (local.get $l) (i32.const 2)))))))
                                (then (local.set $m (local.get $rr))))))
                          ;; on equal values j (the highest column) loses first
                          (br_if $down_done (f32.le (local.get $v) (f32.load (i32.add (local.get $hv) (i32.shl (local.get $m) (i32.const 2))))))
                          (f32.store (i32.add (local.get $hv) (i32.shl (local.get $c) (i32.const 2)))
                            (f32.load (i32.add (local.get $hv) (i32.shl (local.get $m) (i32.const 2)))))
                          (i32.store (i32.add (local.get $hi) (i32.shl (local.get $c) (i32.const 2)))
                            (i32.load (i32.add (local.get $hi) (i32.shl (local.get $m) (i32.const 2)))))
                          (local.set $c (local.get $m))
                          (br $down)))
                      (f32.store (i32.add (local.get $hv) (i32.shl (local.get $c) (i32.const 2))) (local.get $v))
                      (i32.store (i32.add (local.get $hi) (i32.shl (local.get $c) (i32.const 2))) (local.get $j))
                      (local.set $bar (f32.load (local.get $hv)))))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $each (i32.lt_u (local.get $j) (local.get $lim))))
            (br $scan)))
        ;; empty slots
        (memory.fill (i32.add (local.get $hv) (i32.shl (local.get $n) (i32.const 2))) (i32.const 0)
          (i32.shl (i32.sub (local.get $kk) (local.get $n)) (i32.const 2)))
        (memory.fill (i32.add (local.get $hi) (i32.shl (local.get $n) (i32.const 2))) (i32.const 0)
          (i32.shl (i32.sub (local.get $kk) (local.get $n)) (i32.const 2)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows_loop))))
)
