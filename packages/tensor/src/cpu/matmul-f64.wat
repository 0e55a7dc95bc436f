;; Float64 batched matmul of the CPU backend (cpu/matmul-f64-wasm.ts): O = A @ B per batch for
;; A [m, k] (any strides), B [k, n] (rows contiguous) and O [m, n] (contiguous) in the module's
;; own memory (byte addresses; the host copies the operands in and the product out). The same
;; bits as the backend's JavaScript loop: every output element is its own sum, started from 0 and
;; added to in order p = 0 .. k-1 with a separate rounded multiply and add (f64x2 lanes hold two
;; adjacent columns of one row; no fused multiply-add). Tiles of 4 rows x 4 columns (eight f64x2
;; accumulators), then 4 rows x 2 and 4 rows x 1 for a 4-row block's last columns (n not a
;; multiple of 4), and 1 row x 4, 2 and 1 columns for the rows left (m not a multiple of 4).
;; `gather` lays out a B whose rows are not contiguous first.
;; Assembled by scripts/build-wasm.ts into matmul-f64-wasm.generated.ts (base64).
(module
  (memory (export "memory") 1 32768)

  ;; O[0..4, 0..4] = A[0..4, :] @ B[:, 0..4]; a, b, o point at the tile's first elements.
  (func $tile4x4 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowA i32) (param $sak i32) (param $rowB i32) (param $rowO i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $p i32)
    (local $y0 v128) (local $y1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $a1 (i32.add (local.get $a) (local.get $rowA)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $rowA)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $rowA)))
    (local.set $c00 (f64x2.splat (f64.const 0)))
    (local.set $c01 (local.get $c00)) (local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c00))
    (local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c00)) (local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c00))
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $y0 (v128.load (local.get $b)))
        (local.set $y1 (v128.load offset=16 (local.get $b)))
        (local.set $x (v128.load64_splat (local.get $a)))
        (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $x) (local.get $y0))))
        (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $x) (local.get $y1))))
        (local.set $x (v128.load64_splat (local.get $a1)))
        (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $x) (local.get $y0))))
        (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $x) (local.get $y1))))
        (local.set $x (v128.load64_splat (local.get $a2)))
        (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $x) (local.get $y0))))
        (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $x) (local.get $y1))))
        (local.set $x (v128.load64_splat (local.get $a3)))
        (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $x) (local.get $y0))))
        (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $x) (local.get $y1))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $a1 (i32.add (local.get $a1) (local.get $sak)))
        (local.set $a2 (i32.add (local.get $a2) (local.get $sak)))
        (local.set $a3 (i32.add (local.get $a3) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (v128.store (local.get $o) (local.get $c00))
    (v128.store offset=16 (local.get $o) (local.get $c01))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c10))
    (v128.store offset=16 (local.get $o) (local.get $c11))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c20))
    (v128.store offset=16 (local.get $o) (local.get $c21))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c30))
    (v128.store offset=16 (local.get $o) (local.get $c31)))

  ;; O[0..4, 0..2] = A[0..4, :] @ B[:, 0..2] (the 4-row blocks' last two columns).
  (func $tile4x2 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowA i32) (param $sak i32) (param $rowB i32) (param $rowO i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $p i32) (local $y v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $a1 (i32.add (local.get $a) (local.get $rowA)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $rowA)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $rowA)))
    (local.set $c0 (f64x2.splat (f64.const 0)))
    (local.set $c1 (local.get $c0)) (local.set $c2 (local.get $c0)) (local.set $c3 (local.get $c0))
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $y (v128.load (local.get $b)))
        (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (v128.load64_splat (local.get $a)) (local.get $y))))
        (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (v128.load64_splat (local.get $a1)) (local.get $y))))
        (local.set $c2 (f64x2.add (local.get $c2) (f64x2.mul (v128.load64_splat (local.get $a2)) (local.get $y))))
        (local.set $c3 (f64x2.add (local.get $c3) (f64x2.mul (v128.load64_splat (local.get $a3)) (local.get $y))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $a1 (i32.add (local.get $a1) (local.get $sak)))
        (local.set $a2 (i32.add (local.get $a2) (local.get $sak)))
        (local.set $a3 (i32.add (local.get $a3) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (v128.store (local.get $o) (local.get $c0))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c1))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c2))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (v128.store (local.get $o) (local.get $c3)))

  ;; O[0..4, 0] = A[0..4, :] @ B[:, 0] (the 4-row blocks' last column): scalar sums.
  (func $tile4x1 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowA i32) (param $sak i32) (param $rowB i32) (param $rowO i32)
    (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $p i32) (local $y f64)
    (local $c0 f64) (local $c1 f64) (local $c2 f64) (local $c3 f64)
    (local.set $a1 (i32.add (local.get $a) (local.get $rowA)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $rowA)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $rowA)))
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $y (f64.load (local.get $b)))
        (local.set $c0 (f64.add (local.get $c0) (f64.mul (f64.load (local.get $a)) (local.get $y))))
        (local.set $c1 (f64.add (local.get $c1) (f64.mul (f64.load (local.get $a1)) (local.get $y))))
        (local.set $c2 (f64.add (local.get $c2) (f64.mul (f64.load (local.get $a2)) (local.get $y))))
        (local.set $c3 (f64.add (local.get $c3) (f64.mul (f64.load (local.get $a3)) (local.get $y))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $a1 (i32.add (local.get $a1) (local.get $sak)))
        (local.set $a2 (i32.add (local.get $a2) (local.get $sak)))
        (local.set $a3 (i32.add (local.get $a3) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (f64.store (local.get $o) (local.get $c0))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (f64.store (local.get $o) (local.get $c1))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (f64.store (local.get $o) (local.get $c2))
    (local.set $o (i32.add (local.get $o) (local.get $rowO)))
    (f64.store (local.get $o) (local.get $c3)))

  ;; O[0, 0..4] = A[0, :] @ B[:, 0..4].
  (func $tile1x4 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowB i32) (param $sak i32)
    (local $p i32) (local $x v128) (local $c0 v128) (local $c1 v128)
    (local.set $c0 (f64x2.splat (f64.const 0)))
    (local.set $c1 (local.get $c0))
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $x (v128.load64_splat (local.get $a)))
        (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $x) (v128.load (local.get $b)))))
        (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $x) (v128.load offset=16 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (v128.store (local.get $o) (local.get $c0))
    (v128.store offset=16 (local.get $o) (local.get $c1)))

  ;; O[0, 0..2] = A[0, :] @ B[:, 0..2].
  (func $tile1x2 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowB i32) (param $sak i32)
    (local $p i32) (local $c v128)
    (local.set $c (f64x2.splat (f64.const 0)))
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $c (f64x2.add (local.get $c) (f64x2.mul (v128.load64_splat (local.get $a)) (v128.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (v128.store (local.get $o) (local.get $c)))

  ;; O[0, 0] = A[0, :] . B[:, 0].
  (func $tile1x1 (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $rowB i32) (param $sak i32)
    (local $p i32) (local $c f64)
    (block $done
      (loop $depth
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $c (f64.add (local.get $c) (f64.mul (f64.load (local.get $a)) (f64.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (local.get $sak)))
        (local.set $b (i32.add (local.get $b) (local.get $rowB)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $depth)))
    (f64.store (local.get $o) (local.get $c)))

  ;; One row of O from column j on: tiles of 4 columns, then one of 2, then a single column.
  (func $row (param $o i32) (param $a i32) (param $b i32) (param $k i32) (param $n i32) (param $j i32) (param $rowB i32) (param $sak i32)
    (block $quads
      (loop $quad
        (br_if $quads (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (call $tile1x4 (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 3))) (local.get $a)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $rowB) (local.get $sak))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $quad)))
    (if (i32.le_u (i32.add (local.get $j) (i32.const 2)) (local.get $n))
      (then
        (call $tile1x2 (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 3))) (local.get $a)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $rowB) (local.get $sak))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))))
    (block $singles
      (loop $single
        (br_if $singles (i32.ge_u (local.get $j) (local.get $n)))
        (call $tile1x1 (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 3))) (local.get $a)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $rowB) (local.get $sak))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $single))))

  ;; O[bi] = A[bi] @ B[bi] for bi < batch; O contiguous [batch, m, n]. A's element [i, p] is at
  ;; a + i*sam + p*sak and B's [p, j] at b + p*sbk + 8j (bytes; B's rows contiguous); batches
  ;; aStep and bStep bytes apart (0: broadcast). m, k, n >= 1.
  (func (export "mm") (param $o i32) (param $a i32) (param $b i32) (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $aStep i32) (param $bStep i32) (param $sam i32) (param $sak i32) (param $sbk i32)
    (local $rowO i32) (local $bi i32) (local $i i32) (local $j i32) (local $oRow i32) (local $aRow i32)
    (local.set $rowO (i32.shl (local.get $n) (i32.const 3)))
    (block $batches
      (loop $batchLoop
        (br_if $batches (i32.ge_u (local.get $bi) (local.get $batch)))
        (local.set $i (i32.const 0))
        (block $blocks
          (loop $block
            (br_if $blocks (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
            (local.set $oRow (i32.add (local.get $o) (i32.mul (local.get $i) (local.get $rowO))))
            (local.set $aRow (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sam))))
            (local.set $j (i32.const 0))
            (block $quads
              (loop $quad
                (br_if $quads (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
                (call $tile4x4 (i32.add (local.get $oRow) (i32.shl (local.get $j) (i32.const 3))) (local.get $aRow)
                  (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $sam) (local.get $sak) (local.get $sbk) (local.get $rowO))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $quad)))
            ;; columns left over: a 4 x 2 tile, then a 4 x 1 one
            (if (i32.le_u (i32.add (local.get $j) (i32.const 2)) (local.get $n))
              (then
                (call $tile4x2 (i32.add (local.get $oRow) (i32.shl (local.get $j) (i32.const 3))) (local.get $aRow)
                  (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $sam) (local.get $sak) (local.get $sbk) (local.get $rowO))
                (local.set $j (i32.add (local.get $j) (i32.const 2)))))
            (if (i32.lt_u (local.get $j) (local.get $n))
              (then
                (call $tile4x1 (i32.add (local.get $oRow) (i32.shl (local.get $j) (i32.const 3))) (local.get $aRow)
                  (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))) (local.get $k) (local.get $sam) (local.get $sak) (local.get $sbk) (local.get $rowO))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $block)))
        (block $rows
          (loop $rowLoop
            (br_if $rows (i32.ge_u (local.get $i) (local.get $m)))
            (call $row (i32.add (local.get $o) (i32.mul (local.get $i) (local.get $rowO))) (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sam)))
              (local.get $b) (local.get $k) (local.get $n) (i32.const 0) (local.get $sbk) (local.get $sak))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rowLoop)))
        (local.set $o (i32.add (local.get $o) (i32.mul (local.get $m) (local.get $rowO))))
        (local.set $a (i32.add (local.get $a) (local.get $aStep)))
        (local.set $b (i32.add (local.get $b) (local.get $bStep)))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $batchLoop))))

  ;; dst (contiguous [batches, rows, cols] float64) = the view of src with byte strides sb, sr, sc.
  (func (export "gather") (param $dst i32) (param $src i32) (param $batches i32) (param $rows i32) (param $cols i32)
    (param $sb i32) (param $sr i32) (param $sc i32)
    (local $bi i32) (local $r i32) (local $c i32) (local $row i32) (local $at i32)
    (block $batchesDone
      (loop $batchLoop
        (br_if $batchesDone (i32.ge_u (local.get $bi) (local.get $batches)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $bi) (local.get $sb))))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $at (local.get $row))
            (local.set $c (i32.const 0))
            (block $colsDone
              (loop $colLoop
                (br_if $colsDone (i32.ge_u (local.get $c) (local.get $cols)))
                (f64.store (local.get $dst) (f64.load (local.get $at)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
                (local.set $at (i32.add (local.get $at) (local.get $sc)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $colLoop)))
            (local.set $row (i32.add (local.get $row) (local.get $sr)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $batchLoop))))
)
