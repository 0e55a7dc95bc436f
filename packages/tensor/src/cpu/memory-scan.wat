;; Float32 SIMD inner loops of the fused neural-memory scan (cpu/memory-scan.ts). Row-major
;; matrices [rows, cols] with cols a multiple of 4; all pointers are byte offsets into the
;; module's own memory, which the host lays out. Assembled by
;; scripts/build-memory-scan-wasm.ts into memory-scan-wasm.generated.ts (base64).
(module
  (memory (export "memory") 1 32768)

  ;; Horizontal sum of the four lanes.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; One token's update of P and S fused with both readings, row by row:
  ;;   pre[r]  = P[r] . xPre                    (before the update)
  ;;   S[r]    = eta S[r] - sc[r] inp
  ;;   P[r]    = decay P[r] + S[r]
  ;;   post[r] = P[r] . xPost                   (after)
  (func (export "update")
    (param $P i32) (param $S i32) (param $rows i32) (param $cols i32) (param $eta f32) (param $decay f32)
    (param $sc i32) (param $inp i32) (param $xPre i32) (param $xPost i32) (param $pre i32) (param $post i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $p v128) (local $s v128) (local $pn v128)
    (local $a v128) (local $b v128) (local $c v128) (local $ve v128) (local $vd v128) (local $at i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ve (f32x4.splat (local.get $eta)))
    (local.set $vd (f32x4.splat (local.get $decay)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (f32x4.splat (f32.load (i32.add (local.get $sc) (i32.shl (local.get $r) (i32.const 2))))))
        (local.set $a (v128.const i32x4 0 0 0 0))
        (local.set $b (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $p (v128.load (i32.add (local.get $P) (local.get $j))))
            (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $p) (v128.load (i32.add (local.get $xPre) (local.get $j))))))
            (local.set $s (f32x4.sub
              (f32x4.mul (local.get $ve) (v128.load (i32.add (local.get $S) (local.get $j))))
              (f32x4.mul (local.get $c) (v128.load (i32.add (local.get $inp) (local.get $j))))))
            (v128.store (i32.add (local.get $S) (local.get $j)) (local.get $s))
            (local.set $pn (f32x4.add (f32x4.mul (local.get $vd) (local.get $p)) (local.get $s)))
            (v128.store (i32.add (local.get $P) (local.get $j)) (local.get $pn))
            (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $pn) (v128.load (i32.add (local.get $xPost) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        (local.set $at (i32.shl (local.get $r) (i32.const 2)))
        (f32.store (i32.add (local.get $pre) (local.get $at)) (call $hsum (local.get $a)))
        (f32.store (i32.add (local.get $post) (local.get $at)) (call $hsum (local.get $b)))
        (local.set $P (i32.add (local.get $P) (local.get $rowBytes)))
        (local.set $S (i32.add (local.get $S) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; out[r] = W[r] . x
  (func (export "matVec") (param $W i32) (param $rows i32) (param $cols i32) (param $x i32) (param $out i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $a v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $a (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $a (f32x4.add (local.get $a)
              (f32x4.mul (v128.load (i32.add (local.get $W) (local.get $j))) (v128.load (i32.add (local.get $x) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))) (call $hsum (local.get $a)))
        (local.set $W (i32.add (local.get $W) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; out = W^T g (out has cols entries)
  (func (export "matTVec") (param $W i32) (param $rows i32) (param $cols i32) (param $g i32) (param $out i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $c v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $zeroDone
      (loop $zero
        (br_if $zeroDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (v128.store (i32.add (local.get $out) (local.get $j)) (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $zero)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (f32x4.splat (f32.load (i32.add (local.get $g) (i32.shl (local.get $r) (i32.const 2))))))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (v128.store (i32.add (local.get $out) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $j)))
                (f32x4.mul (local.get $c) (v128.load (i32.add (local.get $W) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        (local.set $W (i32.add (local.get $W) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
