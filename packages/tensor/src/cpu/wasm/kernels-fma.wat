;; Opt-in float32 GEMM tiles with relaxed-SIMD multiply-add (configureCpu({ fma: true })).
;;
;; A copy of the GEMM part of kernels.wat (same packed panels, same job description at byte 64,
;; same tiles and depth order) whose 4x8 micro-kernel uses f32x4.relaxed_madd instead of
;; f32x4.mul + f32x4.add. relaxed_madd may or may not round the product before the add,
;; depending on the hardware, so results differ from the exact kernels by float32 rounding and
;; may differ between machines. The exact kernels (and packing) stay in kernels.wat: the host
;; packs with them, then runs `gemm_task(t)` here for each task of the gemm job (kind 1).
;;
;; Assembled by scripts/build-wasm.ts (wabt, relaxed SIMD enabled) like kernels.wat, with a
;; shared and an unshared memory import, into kernels-fma.generated.ts. Hosts whose
;; WebAssembly.validate rejects relaxed SIMD (Node 20 without --experimental-wasm-relaxed-simd)
;; keep the exact kernels.
(module
  (import "env" "memory" (memory 1 32768 shared))

  ;; ---------------------------------------------------------------- micro-kernel
  ;; The first `$cnt` (0..4) floats at $p as a vector, zeros after.
  (func $load_part (param $p i32) (param $cnt i32) (result v128)
    (local $v v128)
    (if (i32.ge_u (local.get $cnt) (i32.const 4)) (then (return (v128.load (local.get $p)))))
    (if (i32.gt_u (local.get $cnt) (i32.const 0)) (then (local.set $v (v128.load32_lane 0 (local.get $p) (local.get $v)))))
    (if (i32.gt_u (local.get $cnt) (i32.const 1)) (then (local.set $v (v128.load32_lane offset=4 1 (local.get $p) (local.get $v)))))
    (if (i32.gt_u (local.get $cnt) (i32.const 2)) (then (local.set $v (v128.load32_lane offset=8 2 (local.get $p) (local.get $v)))))
    (local.get $v))

  ;; Stores the first `$cnt` (0..4) lanes of $v at $p.
  (func $store_part (param $p i32) (param $v v128) (param $cnt i32)
    (if (i32.ge_u (local.get $cnt) (i32.const 4)) (then (v128.store (local.get $p) (local.get $v)) (return)))
    (if (i32.gt_u (local.get $cnt) (i32.const 0)) (then (v128.store32_lane 0 (local.get $p) (local.get $v))))
    (if (i32.gt_u (local.get $cnt) (i32.const 1)) (then (v128.store32_lane offset=4 1 (local.get $p) (local.get $v))))
    (if (i32.gt_u (local.get $cnt) (i32.const 2)) (then (v128.store32_lane offset=8 2 (local.get $p) (local.get $v)))))

  ;; Same as kernels.wat's $micro, with each multiply-add as one f32x4.relaxed_madd (fused
  ;; where the hardware has FMA, else a multiply and an add).
  ;; C[0:mr, 0:nr] (= or, with $acc, +=) Apanel[0:kc] x Bpanel[0:kc], where mr <= 4, nr <= 8
  ;; and $ldc is C's row stride in bytes. The panels are zero-padded, so the depth loop always
  ;; computes the full 4x8 tile; an edge tile (mr < 4 or nr < 8) only loads and stores its part.
  (func $micro (param $a i32) (param $b i32) (param $kc i32) (param $c i32) (param $ldc i32) (param $acc i32)
               (param $mr i32) (param $nr i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $end i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $full i32) (local $n0 i32) (local $n1 i32)
    (local.set $r1 (i32.add (local.get $c) (local.get $ldc)))
    (local.set $r2 (i32.add (local.get $r1) (local.get $ldc)))
    (local.set $r3 (i32.add (local.get $r2) (local.get $ldc)))
    (local.set $full (i32.and (i32.eq (local.get $mr) (i32.const 4)) (i32.eq (local.get $nr) (i32.const 8))))
    ;; columns valid in the first and in the second vector
    (local.set $n0 (select (i32.const 4) (local.get $nr) (i32.gt_u (local.get $nr) (i32.const 4))))
    (local.set $n1 (select (i32.sub (local.get $nr) (i32.const 4)) (i32.const 0) (i32.gt_u (local.get $nr) (i32.const 4))))
    (if (local.get $acc)
      (then
        (if (local.get $full)
          (then
            (local.set $c00 (v128.load (local.get $c)))
            (local.set $c01 (v128.load offset=16 (local.get $c)))
            (local.set $c10 (v128.load (local.get $r1)))
            (local.set $c11 (v128.load offset=16 (local.get $r1)))
            (local.set $c20 (v128.load (local.get $r2)))
            (local.set $c21 (v128.load offset=16 (local.get $r2)))
            (local.set $c30 (v128.load (local.get $r3)))
            (local.set $c31 (v128.load offset=16 (local.get $r3))))
          (else
            (local.set $c00 (call $load_part (local.get $c) (local.get $n0)))
            (local.set $c01 (call $load_part (i32.add (local.get $c) (i32.const 16)) (local.get $n1)))
            (if (i32.gt_u (local.get $mr) (i32.const 1)) (then
              (local.set $c10 (call $load_part (local.get $r1) (local.get $n0)))
              (local.set $c11 (call $load_part (i32.add (local.get $r1) (i32.const 16)) (local.get $n1)))))
            (if (i32.gt_u (local.get $mr) (i32.const 2)) (then
              (local.set $c20 (call $load_part (local.get $r2) (local.get $n0)))
              (local.set $c21 (call $load_part (i32.add (local.get $r2) (i32.const 16)) (local.get $n1)))))
            (if (i32.gt_u (local.get $mr) (i32.const 3)) (then
              (local.set $c30 (call $load_part (local.get $r3) (local.get $n0)))
              (local.set $c31 (call $load_part (i32.add (local.get $r3) (i32.const 16)) (local.get $n1)))))))))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $kc) (i32.const 4))))
    (if (local.get $kc)
      (then
        (loop $depth
          (local.set $b0 (v128.load (local.get $b)))
          (local.set $b1 (v128.load offset=16 (local.get $b)))
          (local.set $x (v128.load32_splat (local.get $a)))
          (local.set $c00 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c00)))
          (local.set $c01 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c01)))
          (local.set $x (v128.load32_splat offset=4 (local.get $a)))
          (local.set $c10 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c10)))
          (local.set $c11 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c11)))
          (local.set $x (v128.load32_splat offset=8 (local.get $a)))
          (local.set $c20 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c20)))
          (local.set $c21 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c21)))
          (local.set $x (v128.load32_splat offset=12 (local.get $a)))
          (local.set $c30 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c30)))
          (local.set $c31 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c31)))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 32)))
          (br_if $depth (i32.ne (local.get $a) (local.get $end))))))
    (if (local.get $full)
      (then
        (v128.store (local.get $c) (local.get $c00))
        (v128.store offset=16 (local.get $c) (local.get $c01))
        (v128.store (local.get $r1) (local.get $c10))
        (v128.store offset=16 (local.get $r1) (local.get $c11))
        (v128.store (local.get $r2) (local.get $c20))
        (v128.store offset=16 (local.get $r2) (local.get $c21))
        (v128.store (local.get $r3) (local.get $c30))
        (v128.store offset=16 (local.get $r3) (local.get $c31)))
      (else
        (call $store_part (local.get $c) (local.get $c00) (local.get $n0))
        (call $store_part (i32.add (local.get $c) (i32.const 16)) (local.get $c01) (local.get $n1))
        (if (i32.gt_u (local.get $mr) (i32.const 1)) (then
          (call $store_part (local.get $r1) (local.get $c10) (local.get $n0))
          (call $store_part (i32.add (local.get $r1) (i32.const 16)) (local.get $c11) (local.get $n1))))
        (if (i32.gt_u (local.get $mr) (i32.const 2)) (then
          (call $store_part (local.get $r2) (local.get $c20) (local.get $n0))
          (call $store_part (i32.add (local.get $r2) (i32.const 16)) (local.get $c21) (local.get $n1))))
        (if (i32.gt_u (local.get $mr) (i32.const 3)) (then
          (call $store_part (local.get $r3) (local.get $c30) (local.get $n0))
          (call $store_part (i32.add (local.get $r3) (i32.const 16)) (local.get $c31) (local.get $n1)))))))

  ;; C[i0:i1, j0:j1] of one batch (i0 a multiple of 4, j0 of 8); the depth is cut in blocks of
  ;; kc so that a B panel (kc x 8) stays in L1 while the A block (rows x kc) sits in L2.
  (func $gemm_tile (param $pa i32) (param $pb i32) (param $c i32) (param $m i32) (param $n i32) (param $k i32)
                   (param $i0 i32) (param $i1 i32) (param $j0 i32) (param $j1 i32) (param $kcMax i32)
    (local $pc i32) (local $kc i32) (local $jr i32) (local $ir i32) (local $ap i32) (local $bp i32)
    (local $mr i32) (local $nr i32) (local $ldc i32) (local $acc i32)
    (local.set $ldc (i32.shl (local.get $n) (i32.const 2)))
    (loop $depth_block
      (local.set $kc (i32.sub (local.get $k) (local.get $pc)))
      (if (i32.gt_u (local.get $kc) (local.get $kcMax)) (then (local.set $kc (local.get $kcMax))))
      (local.set $acc (i32.ne (local.get $pc) (i32.const 0)))
      (local.set $jr (local.get $j0))
      (loop $cols
        (local.set $bp (i32.add (local.get $pb)
          (i32.add (i32.mul (i32.shr_u (local.get $jr) (i32.const 3)) (i32.shl (local.get $k) (i32.const 5)))
                   (i32.shl (local.get $pc) (i32.const 5)))))
        (local.set $nr (i32.sub (local.get $n) (local.get $jr)))
        (if (i32.gt_u (local.get $nr) (i32.const 8)) (then (local.set $nr (i32.const 8))))
        (local.set $ir (local.get $i0))
        (loop $rows
          (local.set $ap (i32.add (local.get $pa)
            (i32.add (i32.mul (i32.shr_u (local.get $ir) (i32.const 2)) (i32.shl (local.get $k) (i32.const 4)))
                     (i32.shl (local.get $pc) (i32.const 4)))))
          (local.set $mr (i32.sub (local.get $m) (local.get $ir)))
          (if (i32.gt_u (local.get $mr) (i32.const 4)) (then (local.set $mr (i32.const 4))))
          (call $micro (local.get $ap) (local.get $bp) (local.get $kc)
            (i32.add (local.get $c) (i32.add (i32.mul (local.get $ir) (local.get $ldc)) (i32.shl (local.get $jr) (i32.const 2))))
            (local.get $ldc) (local.get $acc) (local.get $mr) (local.get $nr))
          (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
          (br_if $rows (i32.lt_u (local.get $ir) (local.get $i1))))
        (local.set $jr (i32.add (local.get $jr) (i32.const 8)))
        (br_if $cols (i32.lt_u (local.get $jr) (local.get $j1))))
      (local.set $pc (i32.add (local.get $pc) (local.get $kc)))
      (br_if $depth_block (i32.lt_u (local.get $pc) (local.get $k)))))

  ;; Computes gemm tile number $tile (batch-major, then rows, then columns).
  (func $gemm_task_tile (param $tile i32)
    (local $tn i32) (local $tm i32) (local $rest i32) (local $batch i32) (local $i0 i32) (local $i1 i32)
    (local $j0 i32) (local $j1 i32) (local $m i32) (local $n i32)
    (local.set $m (i32.load (i32.const 68)))
    (local.set $n (i32.load (i32.const 72)))
    (local.set $tn (i32.load (i32.const 92)))
    (local.set $tm (i32.load (i32.const 88)))
    (local.set $rest (i32.div_u (local.get $tile) (local.get $tn)))
    (local.set $j0 (i32.mul (i32.rem_u (local.get $tile) (local.get $tn)) (i32.load (i32.const 84))))
    (local.set $j1 (i32.add (local.get $j0) (i32.load (i32.const 84))))
    (if (i32.gt_u (local.get $j1) (local.get $n)) (then (local.set $j1 (local.get $n))))
    (local.set $i0 (i32.mul (i32.rem_u (local.get $rest) (local.get $tm)) (i32.load (i32.const 80))))
    (local.set $i1 (i32.add (local.get $i0) (i32.load (i32.const 80))))
    (if (i32.gt_u (local.get $i1) (local.get $m)) (then (local.set $i1 (local.get $m))))
    (local.set $batch (i32.div_u (local.get $rest) (local.get $tm)))
    (call $gemm_tile
      (i32.add (i32.load (i32.const 96)) (i32.mul (local.get $batch) (i32.load (i32.const 100))))
      (i32.add (i32.load (i32.const 104)) (i32.mul (local.get $batch) (i32.load (i32.const 108))))
      (i32.add (i32.load (i32.const 112)) (i32.shl (i32.mul (local.get $batch) (i32.mul (local.get $m) (local.get $n))) (i32.const 2)))
      (local.get $m) (local.get $n) (i32.load (i32.const 76))
      (local.get $i0) (local.get $i1) (local.get $j0) (local.get $j1)
      (i32.load (i32.const 116))))

  ;; Runs task $t of the current gemm job (tiles [t * per task, (t + 1) * per task)).
  (func (export "gemm_task") (param $t i32)
    (local $tile i32) (local $end i32)
    (local.set $tile (i32.mul (local.get $t) (i32.load (i32.const 120))))
    (local.set $end (i32.add (local.get $tile) (i32.load (i32.const 120))))
    (if (i32.gt_u (local.get $end) (i32.load (i32.const 124))) (then (local.set $end (i32.load (i32.const 124)))))
    (block $done
      (loop $tiles
        (br_if $done (i32.ge_u (local.get $tile) (local.get $end)))
        (call $gemm_task_tile (local.get $tile))
        (local.set $tile (i32.add (local.get $tile) (i32.const 1)))
        (br $tiles))))
)
