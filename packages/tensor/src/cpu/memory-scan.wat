;; Float32 SIMD inner loops of the fused neural-memory scan (cpu/memory-scan.ts). Row-major
;; matrices [rows, cols] with rows and cols multiples of 4; all pointers are byte offsets into the
;; module's own memory, which the host lays out. Assembled by
;; scripts/build-wasm.ts into memory-scan-wasm.generated.ts (base64).
(module
  (memory (export "memory") 1 32768)

  ;; One token's update of P and S fused with both readings, two rows at a time (rows even),
  ;; so the column vectors (xPre, xPost, inp) are loaded once for both:
  ;;   pre[r]  = P[r] . xPre                    (before the update)
  ;;   S[r]    = eta S[r] - sc[r] inp
  ;;   P[r]    = decay P[r] + S[r]
  ;;   post[r] = P[r] . xPost                   (after)
  (func $update (export "update")
    (param $P i32) (param $S i32) (param $rows i32) (param $cols i32) (param $eta f32) (param $decay f32)
    (param $sc i32) (param $inp i32) (param $xPre i32) (param $xPost i32) (param $pre i32) (param $post i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $p v128) (local $s v128) (local $pn v128)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128) (local $c0 v128) (local $c1 v128)
    (local $ve v128) (local $vd v128) (local $at i32) (local $xa v128) (local $xb v128) (local $in v128)
    (local $P1 i32) (local $S1 i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ve (f32x4.splat (local.get $eta)))
    (local.set $vd (f32x4.splat (local.get $decay)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $at (i32.shl (local.get $r) (i32.const 2)))
        (local.set $c0 (f32x4.splat (f32.load (i32.add (local.get $sc) (local.get $at)))))
        (local.set $c1 (f32x4.splat (f32.load offset=4 (i32.add (local.get $sc) (local.get $at)))))
        (local.set $P1 (i32.add (local.get $P) (local.get $rowBytes)))
        (local.set $S1 (i32.add (local.get $S) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $b1 (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $xa (v128.load (i32.add (local.get $xPre) (local.get $j))))
            (local.set $xb (v128.load (i32.add (local.get $xPost) (local.get $j))))
            (local.set $in (v128.load (i32.add (local.get $inp) (local.get $j))))
            ;; row r
            (local.set $p (v128.load (i32.add (local.get $P) (local.get $j))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $p) (local.get $xa))))
            (local.set $s (f32x4.sub
              (f32x4.mul (local.get $ve) (v128.load (i32.add (local.get $S) (local.get $j))))
              (f32x4.mul (local.get $c0) (local.get $in))))
            (v128.store (i32.add (local.get $S) (local.get $j)) (local.get $s))
            (local.set $pn (f32x4.add (f32x4.mul (local.get $vd) (local.get $p)) (local.get $s)))
            (v128.store (i32.add (local.get $P) (local.get $j)) (local.get $pn))
            (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $pn) (local.get $xb))))
            ;; row r + 1
            (local.set $p (v128.load (i32.add (local.get $P1) (local.get $j))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $p) (local.get $xa))))
            (local.set $s (f32x4.sub
              (f32x4.mul (local.get $ve) (v128.load (i32.add (local.get $S1) (local.get $j))))
              (f32x4.mul (local.get $c1) (local.get $in))))
            (v128.store (i32.add (local.get $S1) (local.get $j)) (local.get $s))
            (local.set $pn (f32x4.add (f32x4.mul (local.get $vd) (local.get $p)) (local.get $s)))
            (v128.store (i32.add (local.get $P1) (local.get $j)) (local.get $pn))
            (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $pn) (local.get $xb))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        ;; [pre r, pre r+1, post r, post r+1], each summed (lane 0 + lane 1) + (lane 2 + lane 3) as four scalar adds would
        (local.set $a0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $a1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $a1))))
        (local.set $b0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $b0) (local.get $b1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $b0) (local.get $b1))))
        (local.set $a0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $b0))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $b0))))
        (v128.store64_lane 0 (i32.add (local.get $pre) (local.get $at)) (local.get $a0))
        (v128.store64_lane 1 (i32.add (local.get $post) (local.get $at)) (local.get $a0))
        (local.set $P (i32.add (local.get $P1) (local.get $rowBytes)))
        (local.set $S (i32.add (local.get $S1) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $rowLoop))))

  ;; One layer's updates for all n tokens of a chunk with the reading after each (no y_pre), row
  ;; by row: each row of P and S is updated token after token, four vectors of it held in
  ;; registers, instead of streaming the whole matrix through the cache once per token. Per
  ;; token s: eta[s], decay[s], sc [n, rows] (row s), inp and xPost [n, cols] (row s); post
  ;; [n, rows] gets the readings. Every step is update's (S = eta S - sc inp, P = decay P + S,
  ;; post = P . xPost with lane sums over the columns in order, then (lane 0 + lane 1) + (lane 2 +
  ;; lane 3)), so the results are bit-identical to n calls of update; the running lane sums wait
  ;; in $acc (n x 16 bytes) between column blocks.
  (func $rowsUpdatePost (export "rowsUpdatePost") (param $P i32) (param $S i32) (param $rows i32) (param $cols i32) (param $n i32) (param $eta i32) (param $decay i32) (param $sc i32) (param $inp i32) (param $xPost i32) (param $post i32) (param $acc i32)
    (local $r i32) (local $c i32) (local $tk i32) (local $rowBytes i32) (local $outBytes i32) (local $at i32) (local $Prow i32) (local $Srow i32) (local $pr i32) (local $sr i32) (local $ep i32) (local $dp i32) (local $cp i32) (local $ip i32) (local $xp i32) (local $xq i32) (local $ap i32) (local $op i32) (local $ve v128) (local $vd v128) (local $vc v128) (local $b v128) (local $bq v128) (local $p0 v128) (local $s0 v128) (local $p1 v128) (local $s1 v128) (local $p2 v128) (local $s2 v128) (local $p3 v128) (local $s3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $outBytes (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $at (i32.shl (local.get $r) (i32.const 2)))
        (local.set $Prow (i32.add (local.get $P) (i32.mul (local.get $r) (local.get $rowBytes))))
        (local.set $Srow (i32.add (local.get $S) (i32.mul (local.get $r) (local.get $rowBytes))))
        (local.set $c (i32.const 0))
        (block $blkDone
          (loop $blk
            (br_if $blkDone (i32.gt_u (i32.add (local.get $c) (i32.const 64)) (local.get $rowBytes)))
            (local.set $pr (i32.add (local.get $Prow) (local.get $c)))
            (local.set $sr (i32.add (local.get $Srow) (local.get $c)))
            (local.set $p0 (v128.load offset=0 (local.get $pr)))
            (local.set $s0 (v128.load offset=0 (local.get $sr)))
            (local.set $p1 (v128.load offset=16 (local.get $pr)))
            (local.set $s1 (v128.load offset=16 (local.get $sr)))
            (local.set $p2 (v128.load offset=32 (local.get $pr)))
            (local.set $s2 (v128.load offset=32 (local.get $sr)))
            (local.set $p3 (v128.load offset=48 (local.get $pr)))
            (local.set $s3 (v128.load offset=48 (local.get $sr)))
            (local.set $tk (i32.const 0))
            (local.set $ep (local.get $eta))
            (local.set $dp (local.get $decay))
            (local.set $cp (i32.add (local.get $sc) (local.get $at)))
            (local.set $ip (i32.add (local.get $inp) (local.get $c)))
            (local.set $xp (i32.add (local.get $xPost) (local.get $c)))
            (local.set $ap (local.get $acc))
            (block $tokDoneblk
              (loop $tokblk
                (br_if $tokDoneblk (i32.ge_u (local.get $tk) (local.get $n)))
                (local.set $ve (v128.load32_splat (local.get $ep)))
                (local.set $vd (v128.load32_splat (local.get $dp)))
                (local.set $vc (v128.load32_splat (local.get $cp)))
                (local.set $b (select (result v128) (v128.load (local.get $ap)) (v128.const i32x4 0 0 0 0) (local.get $c)))
                (local.set $s0 (f32x4.sub (f32x4.mul (local.get $ve) (local.get $s0)) (f32x4.mul (local.get $vc) (v128.load offset=0 (local.get $ip)))))
                (local.set $p0 (f32x4.add (f32x4.mul (local.get $vd) (local.get $p0)) (local.get $s0)))
                (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $p0) (v128.load offset=0 (local.get $xp)))))
                (local.set $s1 (f32x4.sub (f32x4.mul (local.get $ve) (local.get $s1)) (f32x4.mul (local.get $vc) (v128.load offset=16 (local.get $ip)))))
                (local.set $p1 (f32x4.add (f32x4.mul (local.get $vd) (local.get $p1)) (local.get $s1)))
                (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $p1) (v128.load offset=16 (local.get $xp)))))
                (local.set $s2 (f32x4.sub (f32x4.mul (local.get $ve) (local.get $s2)) (f32x4.mul (local.get $vc) (v128.load offset=32 (local.get $ip)))))
                (local.set $p2 (f32x4.add (f32x4.mul (local.get $vd) (local.get $p2)) (local.get $s2)))
                (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $p2) (v128.load offset=32 (local.get $xp)))))
                (local.set $s3 (f32x4.sub (f32x4.mul (local.get $ve) (local.get $s3)) (f32x4.mul (local.get $vc) (v128.load offset=48 (local.get $ip)))))
                (local.set $p3 (f32x4.add (f32x4.mul (local.get $vd) (local.get $p3)) (local.get $s3)))
                (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $p3) (v128.load offset=48 (local.get $xp)))))
                (v128.store (local.get $ap) (local.get $b))
                (local.set $ep (i32.add (local.get $ep) (i32.const 4)))
                (local.set $dp (i32.add (local.get $dp) (i32.const 4)))
                (local.set $cp (i32.add (local.get $cp) (local.get $outBytes)))
                (local.set $ip (i32.add (local.get $ip) (local.get $rowBytes)))
                (local.set $xp (i32.add (local.get $xp) (local.get $rowBytes)))
                (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
                (br $tokblk)))
            (v128.store offset=0 (local.get $pr) (local.get $p0))
            (v128.store offset=0 (local.get $sr) (local.get $s0))
            (v128.store offset=16 (local.get $pr) (local.get $p1))
            (v128.store offset=16 (local.get $sr) (local.get $s1))
            (v128.store offset=32 (local.get $pr) (local.get $p2))
            (v128.store offset=32 (local.get $sr) (local.get $s2))
            (v128.store offset=48 (local.get $pr) (local.get $p3))
            (v128.store offset=48 (local.get $sr) (local.get $s3))
            (local.set $c (i32.add (local.get $c) (i32.const 64)))
            (br $blk)))
        (block $oneDone
          (loop $one
            (br_if $oneDone (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $rowBytes)))
            (local.set $pr (i32.add (local.get $Prow) (local.get $c)))
            (local.set $sr (i32.add (local.get $Srow) (local.get $c)))
            (local.set $p0 (v128.load offset=0 (local.get $pr)))
            (local.set $s0 (v128.load offset=0 (local.get $sr)))
            (local.set $tk (i32.const 0))
            (local.set $ep (local.get $eta))
            (local.set $dp (local.get $decay))
            (local.set $cp (i32.add (local.get $sc) (local.get $at)))
            (local.set $ip (i32.add (local.get $inp) (local.get $c)))
            (local.set $xp (i32.add (local.get $xPost) (local.get $c)))
            (local.set $ap (local.get $acc))
            (block $tokDoneone
              (loop $tokone
                (br_if $tokDoneone (i32.ge_u (local.get $tk) (local.get $n)))
                (local.set $ve (v128.load32_splat (local.get $ep)))
                (local.set $vd (v128.load32_splat (local.get $dp)))
                (local.set $vc (v128.load32_splat (local.get $cp)))
                (local.set $b (select (result v128) (v128.load (local.get $ap)) (v128.const i32x4 0 0 0 0) (local.get $c)))
                (local.set $s0 (f32x4.sub (f32x4.mul (local.get $ve) (local.get $s0)) (f32x4.mul (local.get $vc) (v128.load offset=0 (local.get $ip)))))
                (local.set $p0 (f32x4.add (f32x4.mul (local.get $vd) (local.get $p0)) (local.get $s0)))
                (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $p0) (v128.load offset=0 (local.get $xp)))))
                (v128.store (local.get $ap) (local.get $b))
                (local.set $ep (i32.add (local.get $ep) (i32.const 4)))
                (local.set $dp (i32.add (local.get $dp) (i32.const 4)))
                (local.set $cp (i32.add (local.get $cp) (local.get $outBytes)))
                (local.set $ip (i32.add (local.get $ip) (local.get $rowBytes)))
                (local.set $xp (i32.add (local.get $xp) (local.get $rowBytes)))
                (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
                (br $tokone)))
            (v128.store offset=0 (local.get $pr) (local.get $p0))
            (v128.store offset=0 (local.get $sr) (local.get $s0))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $one)))
        (local.set $ap (local.get $acc))
        (local.set $op (i32.add (local.get $post) (local.get $at)))
        (local.set $tk (i32.const 0))
        (block $redDone
          (loop $red
            (br_if $redDone (i32.ge_u (local.get $tk) (local.get $n)))
            (local.set $b (v128.load (local.get $ap)))
            (f32.store (local.get $op) (f32.add (f32.add (f32x4.extract_lane 0 (local.get $b)) (f32x4.extract_lane 1 (local.get $b))) (f32.add (f32x4.extract_lane 2 (local.get $b)) (f32x4.extract_lane 3 (local.get $b)))))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $op (i32.add (local.get $op) (local.get $outBytes)))
            (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
            (br $red)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; out[r] = W[r] . x, four rows at a time (rows a multiple of 4): x is loaded once for the
  ;; four, and the four accumulators are independent chains.
  (func $matVec (export "matVec") (param $W i32) (param $rows i32) (param $cols i32) (param $x i32) (param $out i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $xv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $W1 i32) (local $W2 i32) (local $W3 i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $W1 (i32.add (local.get $W) (local.get $rowBytes)))
        (local.set $W2 (i32.add (local.get $W1) (local.get $rowBytes)))
        (local.set $W3 (i32.add (local.get $W2) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $xv (v128.load (i32.add (local.get $x) (local.get $j))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $W) (local.get $j))) (local.get $xv))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $W1) (local.get $j))) (local.get $xv))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $W2) (local.get $j))) (local.get $xv))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $W3) (local.get $j))) (local.get $xv))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        ;; [out r .. out r+3], each summed (lane 0 + lane 1) + (lane 2 + lane 3) as four scalar adds would
        (local.set $a0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $a1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $a1))))
        (local.set $a2 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a2) (local.get $a3))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a2) (local.get $a3))))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))) (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $a2))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $a2))))
        (local.set $W (i32.add (local.get $W3) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rowLoop))))

  ;; matVec for four tokens at once: out_t[r] = W[r] . x_t for t = 0..3 (x_t at $x + t $xStride bytes,
  ;; out_t at $out + t $oStride bytes), two rows at a time (rows even), so each vector of W is loaded
  ;; once for the four tokens and the eight (row, token) accumulators are independent chains. Each
  ;; accumulator sums its column vectors in order from zero and then its lanes as (lane 0 + lane 1) +
  ;; (lane 2 + lane 3), as matVec does: bit-identical to four matVec calls.
  (func $matVec4 (export "matVec4") (param $W i32) (param $rows i32) (param $cols i32) (param $x i32) (param $xStride i32) (param $out i32) (param $oStride i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $W1 i32) (local $xp i32) (local $op i32)
    (local $w0 v128) (local $w1 v128) (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $W1 (i32.add (local.get $W) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0)) (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0)) (local.set $b2 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
            (local.set $w0 (v128.load (i32.add (local.get $W) (local.get $j))))
            (local.set $w1 (v128.load (i32.add (local.get $W1) (local.get $j))))
            (local.set $xp (i32.add (local.get $x) (local.get $j)))
            (local.set $x0 (v128.load (local.get $xp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w0) (local.get $x0))))
            (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $w1) (local.get $x0))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xStride)))
            (local.set $x0 (v128.load (local.get $xp)))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w0) (local.get $x0))))
            (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $w1) (local.get $x0))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xStride)))
            (local.set $x0 (v128.load (local.get $xp)))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w0) (local.get $x0))))
            (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $w1) (local.get $x0))))
            (local.set $xp (i32.add (local.get $xp) (local.get $xStride)))
            (local.set $x0 (v128.load (local.get $xp)))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w0) (local.get $x0))))
            (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $w1) (local.get $x0))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $colLoop)))
        ;; per token t: [a_t, b_t] -> out_t[r], out_t[r + 1], each (l0 + l1) + (l2 + l3)
        (local.set $op (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $x0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a0) (local.get $b0))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a0) (local.get $b0))))
        (local.set $x1 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a1) (local.get $b1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a1) (local.get $b1))))
        ;; x0 = [a0 l0+l1, a0 l2+l3, b0 l0+l1, b0 l2+l3]; pair x0 with x1: [a0, b0, a1, b1] sums
        (local.set $x2 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $x0) (local.get $x1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $x0) (local.get $x1))))
        (v128.store64_lane 0 (local.get $op) (local.get $x2))
        (v128.store64_lane 1 (i32.add (local.get $op) (local.get $oStride)) (local.get $x2))
        (local.set $x0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a2) (local.get $b2))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a2) (local.get $b2))))
        (local.set $x1 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a3) (local.get $b3))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a3) (local.get $b3))))
        (local.set $x2 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $x0) (local.get $x1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $x0) (local.get $x1))))
        (local.set $op (i32.add (local.get $op) (i32.shl (local.get $oStride) (i32.const 1))))
        (v128.store64_lane 0 (local.get $op) (local.get $x2))
        (v128.store64_lane 1 (i32.add (local.get $op) (local.get $oStride)) (local.get $x2))
        (local.set $W (i32.add (local.get $W1) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $rowLoop))))

  ;; matTVec for four tokens at once: out_t = W^T g_t for t = 0..3 (g_t at $g + t $gStride bytes, rows
  ;; entries; out_t at $out + t $oStride bytes, cols entries), eight columns (two vectors) per block
  ;; down all rows with eight (token, vector) accumulators, then a four-column tail. Each out_t[j]
  ;; sums its rows in order from zero, as matTVec does: bit-identical to four matTVec calls.
  (func $matTVec4 (export "matTVec4") (param $W i32) (param $rows i32) (param $cols i32) (param $g i32) (param $gStride i32) (param $out i32) (param $oStride i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $p i32) (local $gp i32) (local $op i32)
    (local $w0 v128) (local $w1 v128) (local $c v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $blocksDone
      (loop $blockLoop
        (br_if $blocksDone (i32.gt_u (i32.add (local.get $j) (i32.const 32)) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0)) (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0)) (local.set $b2 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $W) (local.get $j)))
        (local.set $gp (local.get $g))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $w0 (v128.load offset=0 (local.get $p)))
            (local.set $w1 (v128.load offset=16 (local.get $p)))
            (local.set $c (v128.load32_splat (local.get $gp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $c) (local.get $w0))))
            (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $c) (local.get $w1))))
            (local.set $c (v128.load32_splat (i32.add (local.get $gp) (local.get $gStride))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $c) (local.get $w0))))
            (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $c) (local.get $w1))))
            (local.set $c (v128.load32_splat (i32.add (local.get $gp) (i32.shl (local.get $gStride) (i32.const 1)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $c) (local.get $w0))))
            (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $c) (local.get $w1))))
            (local.set $c (v128.load32_splat (i32.add (local.get $gp) (i32.mul (local.get $gStride) (i32.const 3)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $c) (local.get $w0))))
            (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $c) (local.get $w1))))
            (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
            (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        (local.set $op (i32.add (local.get $out) (local.get $j)))
        (v128.store offset=0 (local.get $op) (local.get $a0))
        (v128.store offset=16 (local.get $op) (local.get $b0))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store offset=0 (local.get $op) (local.get $a1))
        (v128.store offset=16 (local.get $op) (local.get $b1))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store offset=0 (local.get $op) (local.get $a2))
        (v128.store offset=16 (local.get $op) (local.get $b2))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store offset=0 (local.get $op) (local.get $a3))
        (v128.store offset=16 (local.get $op) (local.get $b3))
        (local.set $j (i32.add (local.get $j) (i32.const 32)))
        (br $blockLoop)))
    (block $vecsDone
      (loop $vecLoop
        (br_if $vecsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0)) (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $W) (local.get $j)))
        (local.set $gp (local.get $g))
        (local.set $r (i32.const 0))
        (block $rowsDone2
          (loop $rowLoop2
            (br_if $rowsDone2 (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $w0 (v128.load (local.get $p)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load32_splat (local.get $gp)) (local.get $w0))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load32_splat (i32.add (local.get $gp) (local.get $gStride))) (local.get $w0))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load32_splat (i32.add (local.get $gp) (i32.shl (local.get $gStride) (i32.const 1)))) (local.get $w0))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load32_splat (i32.add (local.get $gp) (i32.mul (local.get $gStride) (i32.const 3)))) (local.get $w0))))
            (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
            (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop2)))
        (local.set $op (i32.add (local.get $out) (local.get $j)))
        (v128.store (local.get $op) (local.get $a0))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store (local.get $op) (local.get $a1))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store (local.get $op) (local.get $a2))
        (local.set $op (i32.add (local.get $op) (local.get $oStride)))
        (v128.store (local.get $op) (local.get $a3))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vecLoop))))

  ;; The surprise's backward step through layer l > 0 for one token: sc = th g (rows entries),
  ;; back = W^T g, then g = back * slope (cols entries, g overwritten).
  (func $backStep (export "backStep") (param $W i32) (param $rows i32) (param $cols i32) (param $g i32) (param $back i32)
    (param $slope i32) (param $sc i32) (param $th f32)
    (call $scale (local.get $sc) (local.get $g) (local.get $th) (local.get $rows))
    (call $matTVec (local.get $W) (local.get $rows) (local.get $cols) (local.get $g) (local.get $back))
    (call $mulInto (local.get $g) (local.get $back) (local.get $slope) (local.get $cols)))

  ;; out = th g (n a multiple of 4).
  (func $scale (export "scale") (param $out i32) (param $g i32) (param $th f32) (param $n i32)
    (local $j i32) (local $bytes i32) (local $t v128)
    (local.set $t (f32x4.splat (local.get $th)))
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store (i32.add (local.get $out) (local.get $j)) (f32x4.mul (local.get $t) (v128.load (i32.add (local.get $g) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next))))

  ;; out = a * b elementwise (n a multiple of 4).
  (func $mulInto (export "mulInto") (param $out i32) (param $a i32) (param $b i32) (param $n i32)
    (local $j i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $j))) (v128.load (i32.add (local.get $b) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next))))

  ;; out = W^T g (out has cols entries), column block by column block: 16 columns (four
  ;; accumulators in registers) down all rows, then the remaining 4-column vectors one at a time.
  ;; Each out[j] sums its rows in order from zero, so it rounds as a row-by-row accumulation would.
  (func $matTVec (export "matTVec") (param $W i32) (param $rows i32) (param $cols i32) (param $g i32) (param $out i32)
    (local $r i32) (local $j i32) (local $rowBytes i32) (local $c v128) (local $p i32) (local $gp i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $blocksDone
      (loop $blockLoop
        (br_if $blocksDone (i32.gt_u (i32.add (local.get $j) (i32.const 64)) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $W) (local.get $j)))
        (local.set $gp (local.get $g))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $c (v128.load32_splat (local.get $gp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $c) (v128.load offset=0 (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $c) (v128.load offset=16 (local.get $p)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $c) (v128.load offset=32 (local.get $p)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $c) (v128.load offset=48 (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
            (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop)))
        (v128.store offset=0 (i32.add (local.get $out) (local.get $j)) (local.get $a0))
        (v128.store offset=16 (i32.add (local.get $out) (local.get $j)) (local.get $a1))
        (v128.store offset=32 (i32.add (local.get $out) (local.get $j)) (local.get $a2))
        (v128.store offset=48 (i32.add (local.get $out) (local.get $j)) (local.get $a3))
        (local.set $j (i32.add (local.get $j) (i32.const 64)))
        (br $blockLoop)))
    (block $vecsDone
      (loop $vecLoop
        (br_if $vecsDone (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $W) (local.get $j)))
        (local.set $gp (local.get $g))
        (local.set $r (i32.const 0))
        (block $rowsDone2
          (loop $rowLoop2
            (br_if $rowsDone2 (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load32_splat (local.get $gp)) (v128.load (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
            (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rowLoop2)))
        (v128.store (i32.add (local.get $out) (local.get $j)) (local.get $a0))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vecLoop))))
  ;; The L2 bias at one token: g = 2 (f - v), returns sum (f - v)^2 (n a multiple of 4).
  (func $l2Error (export "l2Error") (param $f i32) (param $v i32) (param $g i32) (param $n i32) (result f32)
    (local $j i32) (local $bytes i32) (local $e v128) (local $acc v128)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $e (f32x4.sub (v128.load (i32.add (local.get $f) (local.get $j))) (v128.load (i32.add (local.get $v) (local.get $j)))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $e) (local.get $e))))
        (v128.store (i32.add (local.get $g) (local.get $j)) (f32x4.add (local.get $e) (local.get $e)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))

  ;; Causal depthwise convolution over n rows of C channels (C a multiple of 4), kernel k, in float32:
  ;;   y[t, c] = ((w[0, c] u[t, c] + w[1, c] u[t + 1, c]) + ...) + w[k - 1, c] u[t + k - 1, c] + bias[c]
  ;; u holds k - 1 earlier rows and then the n rows of this block (row t + k - 1 is token t), w is
  ;; tap-major [k, C]; the taps are summed in order, so the products and sums round exactly as the
  ;; JavaScript kernel's (cpu/qkv-rows.ts).
  (func (export "conv") (param $u i32) (param $w i32) (param $bias i32) (param $y i32) (param $n i32) (param $C i32) (param $k i32)
    (local $t i32) (local $c i32) (local $j i32) (local $rowBytes i32) (local $acc v128) (local $ur i32) (local $wr i32) (local $end i32)
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (local.set $t (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $c (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (local.set $ur (i32.add (local.get $u) (local.get $c)))
            (local.set $wr (i32.add (local.get $w) (local.get $c)))
            (local.set $acc (f32x4.mul (v128.load (local.get $wr)) (v128.load (local.get $ur))))
            (local.set $j (i32.const 1))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $j) (local.get $k)))
                (local.set $ur (i32.add (local.get $ur) (local.get $rowBytes)))
                (local.set $wr (i32.add (local.get $wr) (local.get $rowBytes)))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $wr)) (v128.load (local.get $ur)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $tapLoop)))
            (v128.store (i32.add (local.get $y) (local.get $c)) (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $bias) (local.get $c)))))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $colLoop)))
        (local.set $u (i32.add (local.get $u) (local.get $rowBytes)))
        (local.set $y (i32.add (local.get $y) (local.get $rowBytes)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $rowLoop))))

  ;; out = silu(z) = z sigmoid(z); when $withSlope, slope = sigmoid(z) (1 + z (1 - sigmoid(z))). n a multiple of 4.
  ;; sigmoid(z) = 1 / (1 + exp(-z)), exp(x) in float32 for each lane (inline): x clamped to [-87, 88] (pmin/pmax: NaN stays NaN)
  ;; (no overflow, no denormals), x = k ln2 + r (k = x log2(e) rounded to the nearest integer, ties to
  ;; even, by adding and subtracting 1.5 2^23; Cody-Waite ln2 split, |r| <= ln2 / 2), exp(r) by its
  ;; degree-6 Taylor polynomial (truncation ~1e-7 relative), times 2^k built from the exponent bits
  ;; (k is the low bits of x log2(e) + 1.5 2^23, whose exponent field is 150).
  ;; The constants are written inline (v128.const at each use): held in locals they outnumbered the
  ;; registers and were spilled, 1.7x the time of this form (the same operations, the same bits).
  (func $silu (export "silu") (param $z i32) (param $out i32) (param $slope i32) (param $withSlope i32) (param $n i32)
    (local $j i32) (local $bytes i32) (local $x0 v128) (local $e0 v128) (local $t0 v128) (local $k0 v128) (local $r0 v128) (local $p0 v128) (local $s0 v128) 

    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $bytes)))
        (local.set $x0 (v128.load offset=0 (i32.add (local.get $z) (local.get $j))))
        (local.set $e0 (f32x4.pmax (f32x4.pmin (f32x4.neg (local.get $x0)) (v128.const f32x4 88 88 88 88)) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $t0 (f32x4.add (f32x4.mul (local.get $e0) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $k0 (f32x4.sub (local.get $t0) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r0 (f32x4.sub (local.get $e0) (f32x4.mul (local.get $k0) (v128.const f32x4 0.693145751953125 0.693145751953125 0.693145751953125 0.693145751953125))))
        (local.set $r0 (f32x4.sub (local.get $r0) (f32x4.mul (local.get $k0) (v128.const f32x4 1.428606765330187e-06 1.428606765330187e-06 1.428606765330187e-06 1.428606765330187e-06))))
        (local.set $p0 (f32x4.add (f32x4.mul (v128.const f32x4 0.0013888889 0.0013888889 0.0013888889 0.0013888889) (local.get $r0)) (v128.const f32x4 0.008333334 0.008333334 0.008333334 0.008333334)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.041666668 0.041666668 0.041666668 0.041666668)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.16666667 0.16666667 0.16666667 0.16666667)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 1 1 1 1)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 1 1 1 1)))
        (local.set $e0 (f32x4.mul (local.get $p0) (i32x4.shl (i32x4.sub (local.get $t0) (v128.const i32x4 0x4b3fff81 0x4b3fff81 0x4b3fff81 0x4b3fff81)) (i32.const 23))))
        (local.set $s0 (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e0))))
        (v128.store offset=0 (i32.add (local.get $out) (local.get $j)) (f32x4.mul (local.get $x0) (local.get $s0)))
        (if (local.get $withSlope)
          (then
            (v128.store offset=0 (i32.add (local.get $slope) (local.get $j))
              (f32x4.mul (local.get $s0) (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $x0) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $s0))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next)))
    ;; (the tail loop never runs for n a multiple of 4; this form, exit test on j + 16 and the tail after
    ;; it, ran 1.6x faster under V8 than the same body with an exit test on j and no tail: kept as measured)
    (block $tdone
      (loop $tnext
        (br_if $tdone (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $x0 (v128.load offset=0 (i32.add (local.get $z) (local.get $j))))
        (local.set $e0 (f32x4.pmax (f32x4.pmin (f32x4.neg (local.get $x0)) (v128.const f32x4 88 88 88 88)) (v128.const f32x4 -87 -87 -87 -87)))
        (local.set $t0 (f32x4.add (f32x4.mul (local.get $e0) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504)) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $k0 (f32x4.sub (local.get $t0) (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $r0 (f32x4.sub (local.get $e0) (f32x4.mul (local.get $k0) (v128.const f32x4 0.693145751953125 0.693145751953125 0.693145751953125 0.693145751953125))))
        (local.set $r0 (f32x4.sub (local.get $r0) (f32x4.mul (local.get $k0) (v128.const f32x4 1.428606765330187e-06 1.428606765330187e-06 1.428606765330187e-06 1.428606765330187e-06))))
        (local.set $p0 (f32x4.add (f32x4.mul (v128.const f32x4 0.0013888889 0.0013888889 0.0013888889 0.0013888889) (local.get $r0)) (v128.const f32x4 0.008333334 0.008333334 0.008333334 0.008333334)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.041666668 0.041666668 0.041666668 0.041666668)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.16666667 0.16666667 0.16666667 0.16666667)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 1 1 1 1)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (v128.const f32x4 1 1 1 1)))
        (local.set $e0 (f32x4.mul (local.get $p0) (i32x4.shl (i32x4.sub (local.get $t0) (v128.const i32x4 0x4b3fff81 0x4b3fff81 0x4b3fff81 0x4b3fff81)) (i32.const 23))))
        (local.set $s0 (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e0))))
        (v128.store offset=0 (i32.add (local.get $out) (local.get $j)) (f32x4.mul (local.get $x0) (local.get $s0)))
        (if (local.get $withSlope)
          (then
            (v128.store offset=0 (i32.add (local.get $slope) (local.get $j))
              (f32x4.mul (local.get $s0) (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $x0) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $s0))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $tnext))))
  ;; Head rows with L2 normalisation, float32: n rows of x (row stride $stride bytes, $x already at
  ;; the block's first channel), each split into $heads rows of $d, written head-major to
  ;; out [heads, n, d], each divided by max(||row||, eps) as cpu/qkv-rows.ts headRowsKernel does it:
  ;; the float32 squares summed in order in float64, that sum rounded to float32, floored at
  ;; $floor (eps^2 in float32), 1 / sqrt in float64 rounded to float32, and x r in float32, so the
  ;; result is bit-identical to the JavaScript kernel's. Any d (a scalar tail past the fours).
  (func (export "headRows") (param $x i32) (param $stride i32) (param $out i32) (param $n i32) (param $heads i32) (param $d i32) (param $floor f32)
    (local $h i32) (local $t i32) (local $i i32) (local $src i32) (local $dst i32) (local $vec i32) (local $bytes i32)
    (local $s f64) (local $sq v128) (local $v f32) (local $m f32) (local $r f32) (local $rv v128)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $vec (i32.and (local.get $bytes) (i32.const -16)))
    (local.set $dst (local.get $out))
    (local.set $h (i32.const 0))
    (block $headsDone
      (loop $headLoop
        (br_if $headsDone (i32.ge_u (local.get $h) (local.get $heads)))
        (local.set $t (i32.const 0))
        (block $rowsDone
          (loop $rowLoop
            (br_if $rowsDone (i32.ge_u (local.get $t) (local.get $n)))
            (local.set $src (i32.add (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $stride)))
              (i32.mul (local.get $h) (local.get $bytes))))
            ;; s = sum of the float32 squares, in order, in float64
            (local.set $s (f64.const 0))
            (local.set $i (i32.const 0))
            (block $sqDone
              (loop $sqLoop
                (br_if $sqDone (i32.ge_u (local.get $i) (local.get $vec)))
                (local.set $sq (v128.load (i32.add (local.get $src) (local.get $i))))
                (local.set $sq (f32x4.mul (local.get $sq) (local.get $sq)))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $sq)))))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $sq)))))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $sq)))))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $sq)))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $sqLoop)))
            (block $sqTailDone
              (loop $sqTail
                (br_if $sqTailDone (i32.ge_u (local.get $i) (local.get $bytes)))
                (local.set $v (f32.load (i32.add (local.get $src) (local.get $i))))
                (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.mul (local.get $v) (local.get $v)))))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $sqTail)))
            ;; r = fround(1 / sqrt(s < floor ? floor : s)), s rounded to float32 first (NaN stays NaN)
            (local.set $m (f32.demote_f64 (local.get $s)))
            (local.set $m (select (local.get $floor) (local.get $m) (f32.lt (local.get $m) (local.get $floor))))
            (local.set $r (f32.demote_f64 (f64.div (f64.const 1) (f64.sqrt (f64.promote_f32 (local.get $m))))))
            (local.set $rv (f32x4.splat (local.get $r)))
            (local.set $i (i32.const 0))
            (block $mulDone
              (loop $mulLoop
                (br_if $mulDone (i32.ge_u (local.get $i) (local.get $vec)))
                (v128.store (i32.add (local.get $dst) (local.get $i))
                  (f32x4.mul (v128.load (i32.add (local.get $src) (local.get $i))) (local.get $rv)))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $mulLoop)))
            (block $mulTailDone
              (loop $mulTail
                (br_if $mulTailDone (i32.ge_u (local.get $i) (local.get $bytes)))
                (f32.store (i32.add (local.get $dst) (local.get $i))
                  (f32.mul (f32.load (i32.add (local.get $src) (local.get $i))) (local.get $r)))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $mulTail)))
            (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $rowLoop)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $headLoop))))

  ;; Whole-chunk drivers of a plain memory (no norm, no residual), so a chunk costs a few calls from
  ;; JavaScript instead of several per token. Per token they run exactly the operations of the
  ;; per-token calls memory-scan.ts makes otherwise (the surprise passes stage by stage over the
  ;; chunk, four tokens per pass over the weights; the updates token by token). (Without y_pre the
  ;; host runs rowsUpdatePost instead.) Per token s of n: k, q at $k + s in bytes, v at $v + s out
  ;; bytes; the gates $th, $eta, $decay are float32 arrays of n; $loss gets n float32 losses.

  ;; matVec for n tokens (x_s at $x + s $xStride bytes, out_s at $out + s $oStride): four at a time
  ;; (matVec4), then the rest one by one; each token's arithmetic is matVec's.
  (func $matVecRows (export "matVecRows") (param $W i32) (param $rows i32) (param $cols i32) (param $x i32) (param $xStride i32) (param $out i32) (param $oStride i32) (param $n i32)
    (local $s i32)
    (block $done
      (loop $four
        (br_if $done (i32.gt_u (i32.add (local.get $s) (i32.const 4)) (local.get $n)))
        (call $matVec4 (local.get $W) (local.get $rows) (local.get $cols) (local.get $x) (local.get $xStride) (local.get $out) (local.get $oStride))
        (local.set $x (i32.add (local.get $x) (i32.shl (local.get $xStride) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $oStride) (i32.const 2))))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $four)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $s) (local.get $n)))
        (call $matVec (local.get $W) (local.get $rows) (local.get $cols) (local.get $x) (local.get $out))
        (local.set $x (i32.add (local.get $x) (local.get $xStride)))
        (local.set $out (i32.add (local.get $out) (local.get $oStride)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $tail))))

  ;; matTVec for n tokens (g_s at $g + s $gStride bytes, out_s at $out + s $oStride): four at a time
  ;; (matTVec4), then the rest one by one; each token's arithmetic is matTVec's.
  (func $matTVecRows (export "matTVecRows") (param $W i32) (param $rows i32) (param $cols i32) (param $g i32) (param $gStride i32) (param $out i32) (param $oStride i32) (param $n i32)
    (local $s i32)
    (block $done
      (loop $four
        (br_if $done (i32.gt_u (i32.add (local.get $s) (i32.const 4)) (local.get $n)))
        (call $matTVec4 (local.get $W) (local.get $rows) (local.get $cols) (local.get $g) (local.get $gStride) (local.get $out) (local.get $oStride))
        (local.set $g (i32.add (local.get $g) (i32.shl (local.get $gStride) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $oStride) (i32.const 2))))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $four)))
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $s) (local.get $n)))
        (call $matTVec (local.get $W) (local.get $rows) (local.get $cols) (local.get $g) (local.get $out))
        (local.set $g (i32.add (local.get $g) (local.get $gStride)))
        (local.set $out (i32.add (local.get $out) (local.get $oStride)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $tail))))

  ;; One linear layer W [o, i]: surprise of each token at W, scaled rows into sc [n, o]. The
  ;; readings W k_s of the whole chunk first (z [n, o], four tokens per pass over W), then per token
  ;; the loss and g = 2 (z_s - v_s) (g [o]) and sc_s = th_s g: per token the operations of matVec,
  ;; l2Error and scale, so bit-identical to the per-token calls.
  (func (export "surprise1") (param $W i32) (param $o i32) (param $i i32) (param $k i32) (param $v i32) (param $th i32)
    (param $n i32) (param $z i32) (param $g i32) (param $sc i32) (param $loss i32)
    (local $s i32) (local $ob i32) (local $ib i32)
    (local.set $ob (i32.shl (local.get $o) (i32.const 2)))
    (local.set $ib (i32.shl (local.get $i) (i32.const 2)))
    (call $matVecRows (local.get $W) (local.get $o) (local.get $i) (local.get $k) (local.get $ib) (local.get $z) (local.get $ob) (local.get $n))
    (local.set $s (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (f32.store (local.get $loss) (call $l2Error (local.get $z) (local.get $v) (local.get $g) (local.get $o)))
        (call $scale (local.get $sc) (local.get $g) (f32.load (local.get $th)) (local.get $o))
        (local.set $z (i32.add (local.get $z) (local.get $ob)))
        (local.set $v (i32.add (local.get $v) (local.get $ob)))
        (local.set $sc (i32.add (local.get $sc) (local.get $ob)))
        (local.set $th (i32.add (local.get $th) (i32.const 4)))
        (local.set $loss (i32.add (local.get $loss) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next))))

  ;; The update of one linear layer [o, i] token by token, with both retrievals into yPre, yPost [n, o].
  (func (export "updates1") (param $P i32) (param $S i32) (param $o i32) (param $i i32) (param $eta i32) (param $decay i32)
    (param $sc i32) (param $k i32) (param $q i32) (param $yPre i32) (param $yPost i32) (param $n i32)
    (local $s i32) (local $ob i32) (local $ib i32)
    (local.set $ob (i32.shl (local.get $o) (i32.const 2)))
    (local.set $ib (i32.shl (local.get $i) (i32.const 2)))
    (local.set $s (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (call $update (local.get $P) (local.get $S) (local.get $o) (local.get $i) (f32.load (local.get $eta)) (f32.load (local.get $decay))
          (local.get $sc) (local.get $k) (local.get $q) (local.get $q) (local.get $yPre) (local.get $yPost))
        (local.set $k (i32.add (local.get $k) (local.get $ib)))
        (local.set $q (i32.add (local.get $q) (local.get $ib)))
        (local.set $sc (i32.add (local.get $sc) (local.get $ob)))
        (local.set $yPre (i32.add (local.get $yPre) (local.get $ob)))
        (local.set $yPost (i32.add (local.get $yPost) (local.get $ob)))
        (local.set $eta (i32.add (local.get $eta) (i32.const 4)))
        (local.set $decay (i32.add (local.get $decay) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next))))

  ;; Two layers W1 [h, i], SiLU, W2 [o, h]: the surprise of each token at (W1, W2), stage by stage over
  ;; the whole chunk (the matrix stages four tokens per pass over the weights): z1 = W1 k_s [n, h];
  ;; a1 = silu(z1) [n, h] and its slope [n, h]; z2 = W2 a1_s [n, o]; per token the loss, g_s = 2 (z2_s
  ;; - v_s) [n, o] and sc2_s = th_s g_s; back_s = W2^T g_s [n, h]; per token back_s = back_s * slope_s
  ;; and sc1_s = th_s back_s. Per token the operations of the per-token calls (matVec, silu, matVec,
  ;; l2Error, backStep, scale), so bit-identical to them.
  (func (export "surprise2") (param $W1 i32) (param $h i32) (param $i i32) (param $W2 i32) (param $o i32)
    (param $k i32) (param $v i32) (param $th i32) (param $n i32)
    (param $z1 i32) (param $z2 i32) (param $slope i32) (param $g i32) (param $back i32)
    (param $a1 i32) (param $sc1 i32) (param $sc2 i32) (param $loss i32)
    (local $s i32) (local $ob i32) (local $ib i32) (local $hb i32) (local $t f32) (local $zp i32) (local $gp i32) (local $bp i32) (local $sp i32)
    (local.set $ob (i32.shl (local.get $o) (i32.const 2)))
    (local.set $ib (i32.shl (local.get $i) (i32.const 2)))
    (local.set $hb (i32.shl (local.get $h) (i32.const 2)))
    (call $matVecRows (local.get $W1) (local.get $h) (local.get $i) (local.get $k) (local.get $ib) (local.get $z1) (local.get $hb) (local.get $n))
    (call $silu (local.get $z1) (local.get $a1) (local.get $slope) (i32.const 1) (i32.mul (local.get $n) (local.get $h)))
    (call $matVecRows (local.get $W2) (local.get $o) (local.get $h) (local.get $a1) (local.get $hb) (local.get $z2) (local.get $ob) (local.get $n))
    (local.set $zp (local.get $z2))
    (local.set $gp (local.get $g))
    (local.set $s (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (f32.store (local.get $loss) (call $l2Error (local.get $zp) (local.get $v) (local.get $gp) (local.get $o)))
        (call $scale (local.get $sc2) (local.get $gp) (f32.load (local.get $th)) (local.get $o))
        (local.set $zp (i32.add (local.get $zp) (local.get $ob)))
        (local.set $gp (i32.add (local.get $gp) (local.get $ob)))
        (local.set $v (i32.add (local.get $v) (local.get $ob)))
        (local.set $sc2 (i32.add (local.get $sc2) (local.get $ob)))
        (local.set $th (i32.add (local.get $th) (i32.const 4)))
        (local.set $loss (i32.add (local.get $loss) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next)))
    (call $matTVecRows (local.get $W2) (local.get $o) (local.get $h) (local.get $g) (local.get $ob) (local.get $back) (local.get $hb) (local.get $n))
    (local.set $th (i32.sub (local.get $th) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $bp (local.get $back))
    (local.set $sp (local.get $slope))
    (local.set $s (i32.const 0))
    (block $done2
      (loop $next2
        (br_if $done2 (i32.ge_u (local.get $s) (local.get $n)))
        (call $mulInto (local.get $bp) (local.get $bp) (local.get $sp) (local.get $h))
        (call $scale (local.get $sc1) (local.get $bp) (f32.load (local.get $th)) (local.get $h))
        (local.set $bp (i32.add (local.get $bp) (local.get $hb)))
        (local.set $sp (i32.add (local.get $sp) (local.get $hb)))
        (local.set $sc1 (i32.add (local.get $sc1) (local.get $hb)))
        (local.set $th (i32.add (local.get $th) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next2))))

  ;; The update of both layers token by token: layer 1 with its readings at q (zPre, zPost [h]),
  ;; SiLU of both (hPre, hPost), then layer 2 with its readings at those into yPre, yPost [n, o].
  (func (export "updates2") (param $P1 i32) (param $S1 i32) (param $h i32) (param $i i32) (param $P2 i32) (param $S2 i32) (param $o i32)
    (param $eta i32) (param $decay i32) (param $sc1 i32) (param $sc2 i32) (param $k i32) (param $a1 i32) (param $q i32)
    (param $zPre i32) (param $zPost i32) (param $hPre i32) (param $hPost i32) (param $yPre i32) (param $yPost i32) (param $n i32)
    (local $s i32) (local $ob i32) (local $ib i32) (local $hb i32) (local $e f32) (local $d f32)
    (local.set $ob (i32.shl (local.get $o) (i32.const 2)))
    (local.set $ib (i32.shl (local.get $i) (i32.const 2)))
    (local.set $hb (i32.shl (local.get $h) (i32.const 2)))
    (local.set $s (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (local.set $e (f32.load (local.get $eta)))
        (local.set $d (f32.load (local.get $decay)))
        (call $update (local.get $P1) (local.get $S1) (local.get $h) (local.get $i) (local.get $e) (local.get $d)
          (local.get $sc1) (local.get $k) (local.get $q) (local.get $q) (local.get $zPre) (local.get $zPost))
        (call $silu (local.get $zPre) (local.get $hPre) (i32.const 0) (i32.const 0) (local.get $h))
        (call $silu (local.get $zPost) (local.get $hPost) (i32.const 0) (i32.const 0) (local.get $h))
        (call $update (local.get $P2) (local.get $S2) (local.get $o) (local.get $h) (local.get $e) (local.get $d)
          (local.get $sc2) (local.get $a1) (local.get $hPre) (local.get $hPost) (local.get $yPre) (local.get $yPost))
        (local.set $k (i32.add (local.get $k) (local.get $ib)))
        (local.set $q (i32.add (local.get $q) (local.get $ib)))
        (local.set $a1 (i32.add (local.get $a1) (local.get $hb)))
        (local.set $sc1 (i32.add (local.get $sc1) (local.get $hb)))
        (local.set $sc2 (i32.add (local.get $sc2) (local.get $ob)))
        (local.set $yPre (i32.add (local.get $yPre) (local.get $ob)))
        (local.set $yPost (i32.add (local.get $yPost) (local.get $ob)))
        (local.set $eta (i32.add (local.get $eta) (i32.const 4)))
        (local.set $decay (i32.add (local.get $decay) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next))))

  ;; The surprise clamp (cpu/memory-scan.ts clampRows), in three passes over a chunk of n tokens.
  ;; sumSq4: the sums of squares of four rows of $len floats (row s at $rows + s * $len * 4, for
  ;; s = $s .. $s + 3, a row past $n - 1 read as row $n - 1), each summed in order in float64
  ;; (the float32 squares are exact there), written as four f64 at $out. Two f64x2 accumulators,
  ;; one lane per token: four independent chains, each adding its row's squares in order.
  (func $sumSq4 (param $rows i32) (param $len i32) (param $s i32) (param $n i32) (param $out i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $bytes i32) (local $j i32)
    (local $ab v128) (local $cd v128) (local $x v128) (local $y v128) (local $p v128) (local $q v128) (local $last i32)
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (local.set $last (i32.sub (local.get $n) (i32.const 1)))
    (local.set $a (i32.add (local.get $rows) (i32.mul (local.get $s) (local.get $bytes))))
    (local.set $b (i32.add (local.get $rows) (i32.mul
      (select (i32.add (local.get $s) (i32.const 1)) (local.get $last) (i32.lt_u (i32.add (local.get $s) (i32.const 1)) (local.get $n))) (local.get $bytes))))
    (local.set $c (i32.add (local.get $rows) (i32.mul
      (select (i32.add (local.get $s) (i32.const 2)) (local.get $last) (i32.lt_u (i32.add (local.get $s) (i32.const 2)) (local.get $n))) (local.get $bytes))))
    (local.set $d (i32.add (local.get $rows) (i32.mul
      (select (i32.add (local.get $s) (i32.const 3)) (local.get $last) (i32.lt_u (i32.add (local.get $s) (i32.const 3)) (local.get $n))) (local.get $bytes))))
    (local.set $ab (v128.const f64x2 0 0))
    (local.set $cd (v128.const f64x2 0 0))
    (local.set $j (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $bytes)))
        ;; $x = a0 b0 a1 b1, $y = a2 b2 a3 b3 (lanes of rows a and b), then c and d likewise
        (local.set $p (v128.load (i32.add (local.get $a) (local.get $j))))
        (local.set $q (v128.load (i32.add (local.get $b) (local.get $j))))
        (local.set $x (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p) (local.get $q)))
        (local.set $y (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p) (local.get $q)))
        (local.set $p (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $ab (f64x2.add (local.get $ab) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $ab (f64x2.add (local.get $ab) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (local.get $y)))
        (local.set $ab (f64x2.add (local.get $ab) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))
        (local.set $ab (f64x2.add (local.get $ab) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (v128.load (i32.add (local.get $c) (local.get $j))))
        (local.set $q (v128.load (i32.add (local.get $d) (local.get $j))))
        (local.set $x (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p) (local.get $q)))
        (local.set $y (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p) (local.get $q)))
        (local.set $p (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $cd (f64x2.add (local.get $cd) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $cd (f64x2.add (local.get $cd) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (local.get $y)))
        (local.set $cd (f64x2.add (local.get $cd) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $p (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))
        (local.set $cd (f64x2.add (local.get $cd) (f64x2.mul (local.get $p) (local.get $p))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next)))
    (v128.store (local.get $out) (local.get $ab))
    (v128.store offset=16 (local.get $out) (local.get $cd)))

  ;; sq[s] (f64) = |sc row s|^2 |inp row s|^2 for the first layer ($add 0), sq[s] + that for the
  ;; next ($add 1): rows of $o and $c floats (multiples of 4); $tmp is 64 bytes of scratch.
  (func (export "clampSquares") (param $sc i32) (param $o i32) (param $inp i32) (param $c i32) (param $n i32) (param $sq i32) (param $add i32) (param $tmp i32)
    (local $s i32) (local $k i32) (local $at i32) (local $term f64)
    (local.set $s (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (call $sumSq4 (local.get $sc) (local.get $o) (local.get $s) (local.get $n) (local.get $tmp))
        (call $sumSq4 (local.get $inp) (local.get $c) (local.get $s) (local.get $n) (i32.add (local.get $tmp) (i32.const 32)))
        (local.set $k (i32.const 0))
        (block $tokens
          (loop $token
            (br_if $tokens (i32.or (i32.ge_u (local.get $k) (i32.const 4)) (i32.ge_u (i32.add (local.get $s) (local.get $k)) (local.get $n))))
            (local.set $term (f64.mul
              (f64.load (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 3))))
              (f64.load offset=32 (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 3))))))
            (local.set $at (i32.add (local.get $sq) (i32.shl (i32.add (local.get $s) (local.get $k)) (i32.const 3))))
            (f64.store (local.get $at)
              (if (result f64) (local.get $add)
                (then (f64.add (f64.load (local.get $at)) (local.get $term)))
                (else (local.get $term))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $token)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $next))))

  ;; sq[s] = min(clamp / max(sqrt(sq[s] + 1e-30), 1e-30), 1) for s < n: each token's clamp factor, in float64.
  (func (export "clampFactors") (param $sq i32) (param $n i32) (param $clamp f64)
    (local $at i32) (local $end i32)
    (local.set $at (local.get $sq))
    (local.set $end (i32.add (local.get $sq) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (f64.store (local.get $at)
          (f64.min
            (f64.div (local.get $clamp) (f64.max (f64.sqrt (f64.add (f64.load (local.get $at)) (f64.const 1e-30))) (f64.const 1e-30)))
            (f64.const 1)))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (br $next))))

  ;; sc row s = float32(sc row s * factor[s]) * th[s] for s < n, rows of $o floats (a multiple of 4):
  ;; the product with the float64 factor rounded to float32, then the float32 product with theta.
  (func (export "clampScale") (param $sc i32) (param $o i32) (param $n i32) (param $factor i32) (param $th i32)
    (local $s i32) (local $row i32) (local $end i32) (local $f v128) (local $t v128) (local $v v128)
    (local.set $s (i32.const 0))
    (local.set $row (local.get $sc))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $s) (local.get $n)))
        (local.set $f (f64x2.splat (f64.load (i32.add (local.get $factor) (i32.shl (local.get $s) (i32.const 3))))))
        (local.set $t (f32x4.splat (f32.load (i32.add (local.get $th) (i32.shl (local.get $s) (i32.const 2))))))
        (local.set $end (i32.add (local.get $row) (i32.shl (local.get $o) (i32.const 2))))
        (block $rowDone
          (loop $col
            (br_if $rowDone (i32.ge_u (local.get $row) (local.get $end)))
            (local.set $v (v128.load (local.get $row)))
            (v128.store (local.get $row)
              (f32x4.mul
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                  (f32x4.demote_f64x2_zero (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $f)))
                  (f32x4.demote_f64x2_zero (f64x2.mul
                    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
                    (local.get $f))))
                (local.get $t)))
            (local.set $row (i32.add (local.get $row) (i32.const 16)))
            (br $col)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next))))

  ;; The y_post-only update of one layer over a segment of n tokens in a scaled frame (the same
  ;; recurrence as rowsUpdatePost, rounded differently): with D_t the product of the decays
  ;; (1 - alpha) from the segment's first token to t, p^ = P / D_t and s^ = S / D_t evolve as
  ;;   s^ <- ratio_t s^ - sc_t[r] inp_t     (ratio_t = eta_t / decay_t; sc_t already divided by D_t)
  ;;   p^ <- p^ + s^
  ;;   post_t[r] = D_t (p^ . x_t)          ($ysc holds D_t)
  ;; three multiplies and three adds per four weights and token instead of four and three. P and S
  ;; are read and written unscaled (times $end = D of the last token on the way out). inp and x
  ;; are in blocked layout: 16-column block cb of token t at $inp + cb $bstride + 64 t bytes; cols
  ;; a multiple of 16; rows a multiple of 4. Each row: a 16-column block at a time in registers over
  ;; the segment's tokens (one per pass: V8 kept the two-token body's accumulator in a stack slot; this one
  ;; runs about 10% faster, the same arithmetic in the same order), the readings' lane sums in $acc (one v128 per token, four
  ;; rows' worth: $acc holds 4 n v128); after every fourth row the four rows' sums of each token,
  ;; (l0 + l1) + (l2 + l3) each as in rowsUpdatePost, times D_t, stored as one vector.
  (func $rowsUpdateScaled (export "rowsUpdateScaled") (param $P i32) (param $S i32) (param $rows i32) (param $cols i32) (param $n i32)
    (param $ratio i32) (param $sc i32) (param $inp i32) (param $x i32) (param $bstride i32) (param $post i32) (param $ysc i32) (param $acc i32) (param $end f32)
    (local $r i32) (local $c i32) (local $tk i32) (local $rowBytes i32) (local $outBytes i32) (local $pr i32) (local $sr i32)
    (local $rp i32) (local $cp i32) (local $cq i32) (local $ip i32) (local $xp i32) (local $ap i32) (local $op i32) (local $yp i32) (local $blk i32) (local $nb i32)
    (local $vr v128) (local $vc v128) (local $b v128) (local $ve v128)
    (local $p0 v128) (local $s0 v128) (local $p1 v128) (local $s1 v128) (local $p2 v128) (local $s2 v128) (local $p3 v128) (local $s3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $outBytes (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $ve (f32x4.splat (local.get $end)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $blk (i32.const 0))
        (block $blkDone
          (loop $blkLoop
            (br_if $blkDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (local.set $pr (i32.add (i32.add (local.get $P) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $c)))
            (local.set $sr (i32.add (i32.add (local.get $S) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $c)))
            (local.set $p0 (v128.load offset=0 (local.get $pr)))
            (local.set $p1 (v128.load offset=16 (local.get $pr)))
            (local.set $p2 (v128.load offset=32 (local.get $pr)))
            (local.set $p3 (v128.load offset=48 (local.get $pr)))
            (local.set $s0 (v128.load offset=0 (local.get $sr)))
            (local.set $s1 (v128.load offset=16 (local.get $sr)))
            (local.set $s2 (v128.load offset=32 (local.get $sr)))
            (local.set $s3 (v128.load offset=48 (local.get $sr)))
            (local.set $tk (i32.const 0))
            (local.set $rp (local.get $ratio))
            (local.set $cp (i32.add (local.get $sc) (i32.shl (local.get $r) (i32.const 2))))
            (local.set $ip (i32.add (local.get $inp) (local.get $blk)))
            (local.set $xp (i32.add (local.get $x) (local.get $blk)))
            (local.set $ap (i32.add (local.get $acc) (i32.mul (i32.and (local.get $r) (i32.const 3)) (i32.shl (local.get $n) (i32.const 4)))))
            (if (i32.eqz (local.get $c))
              (then
                    (block $sdz (loop $slz (br_if $sdz (i32.ge_u (local.get $tk) (local.get $n)))
                    (local.set $vr (v128.load32_splat offset=0 (local.get $rp)))
                    (local.set $vc (v128.load32_splat (local.get $cp)))
                    (local.set $s0 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s0)) (f32x4.mul (local.get $vc) (v128.load offset=0 (local.get $ip)))))
                    (local.set $p0 (f32x4.add (local.get $p0) (local.get $s0)))
                    (local.set $s1 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s1)) (f32x4.mul (local.get $vc) (v128.load offset=16 (local.get $ip)))))
                    (local.set $p1 (f32x4.add (local.get $p1) (local.get $s1)))
                    (local.set $s2 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s2)) (f32x4.mul (local.get $vc) (v128.load offset=32 (local.get $ip)))))
                    (local.set $p2 (f32x4.add (local.get $p2) (local.get $s2)))
                    (local.set $s3 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s3)) (f32x4.mul (local.get $vc) (v128.load offset=48 (local.get $ip)))))
                    (local.set $p3 (f32x4.add (local.get $p3) (local.get $s3)))
                    (v128.store offset=0 (local.get $ap) (f32x4.add (f32x4.add (f32x4.add (f32x4.add (v128.const i32x4 0 0 0 0) (f32x4.mul (local.get $p0) (v128.load offset=0 (local.get $xp)))) (f32x4.mul (local.get $p1) (v128.load offset=16 (local.get $xp)))) (f32x4.mul (local.get $p2) (v128.load offset=32 (local.get $xp)))) (f32x4.mul (local.get $p3) (v128.load offset=48 (local.get $xp)))))
                    (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
                    (local.set $cp (i32.add (local.get $cp) (local.get $outBytes)))
                    (local.set $ip (i32.add (local.get $ip) (i32.const 64)))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                    (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
                    (br $slz))))
              (else
                    (block $sda (loop $sla (br_if $sda (i32.ge_u (local.get $tk) (local.get $n)))
                    (local.set $vr (v128.load32_splat offset=0 (local.get $rp)))
                    (local.set $vc (v128.load32_splat (local.get $cp)))
                    (local.set $s0 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s0)) (f32x4.mul (local.get $vc) (v128.load offset=0 (local.get $ip)))))
                    (local.set $p0 (f32x4.add (local.get $p0) (local.get $s0)))
                    (local.set $s1 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s1)) (f32x4.mul (local.get $vc) (v128.load offset=16 (local.get $ip)))))
                    (local.set $p1 (f32x4.add (local.get $p1) (local.get $s1)))
                    (local.set $s2 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s2)) (f32x4.mul (local.get $vc) (v128.load offset=32 (local.get $ip)))))
                    (local.set $p2 (f32x4.add (local.get $p2) (local.get $s2)))
                    (local.set $s3 (f32x4.sub (f32x4.mul (local.get $vr) (local.get $s3)) (f32x4.mul (local.get $vc) (v128.load offset=48 (local.get $ip)))))
                    (local.set $p3 (f32x4.add (local.get $p3) (local.get $s3)))
                    (v128.store offset=0 (local.get $ap) (f32x4.add (f32x4.add (f32x4.add (f32x4.add (v128.load offset=0 (local.get $ap)) (f32x4.mul (local.get $p0) (v128.load offset=0 (local.get $xp)))) (f32x4.mul (local.get $p1) (v128.load offset=16 (local.get $xp)))) (f32x4.mul (local.get $p2) (v128.load offset=32 (local.get $xp)))) (f32x4.mul (local.get $p3) (v128.load offset=48 (local.get $xp)))))
                    (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
                    (local.set $cp (i32.add (local.get $cp) (local.get $outBytes)))
                    (local.set $ip (i32.add (local.get $ip) (i32.const 64)))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                    (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
                    (br $sla)))))
            (v128.store offset=0 (local.get $pr) (f32x4.mul (local.get $p0) (local.get $ve)))
            (v128.store offset=16 (local.get $pr) (f32x4.mul (local.get $p1) (local.get $ve)))
            (v128.store offset=32 (local.get $pr) (f32x4.mul (local.get $p2) (local.get $ve)))
            (v128.store offset=48 (local.get $pr) (f32x4.mul (local.get $p3) (local.get $ve)))
            (v128.store offset=0 (local.get $sr) (f32x4.mul (local.get $s0) (local.get $ve)))
            (v128.store offset=16 (local.get $sr) (f32x4.mul (local.get $s1) (local.get $ve)))
            (v128.store offset=32 (local.get $sr) (f32x4.mul (local.get $s2) (local.get $ve)))
            (v128.store offset=48 (local.get $sr) (f32x4.mul (local.get $s3) (local.get $ve)))
            (local.set $c (i32.add (local.get $c) (i32.const 64)))
            (local.set $blk (i32.add (local.get $blk) (local.get $bstride)))
            (br $blkLoop)))
        ;; after every fourth row: the four rows' lane sums of each token, (l0 + l1) + (l2 + l3) each, times D_t, as one vector
        (if (i32.eq (i32.and (local.get $r) (i32.const 3)) (i32.const 3))
          (then
            (local.set $ap (local.get $acc))
            (local.set $op (i32.add (local.get $post) (i32.shl (i32.sub (local.get $r) (i32.const 3)) (i32.const 2))))
            (local.set $yp (local.get $ysc))
            (local.set $nb (i32.shl (local.get $n) (i32.const 4)))
            (local.set $tk (i32.const 0))
            (block $redDone
              (loop $red
                (br_if $redDone (i32.ge_u (local.get $tk) (local.get $n)))
                (local.set $p0 (v128.load (local.get $ap)))
                (local.set $p1 (v128.load (i32.add (local.get $ap) (local.get $nb))))
                (local.set $p2 (v128.load (i32.add (local.get $ap) (i32.shl (local.get $nb) (i32.const 1)))))
                (local.set $p3 (v128.load (i32.add (local.get $ap) (i32.mul (local.get $nb) (i32.const 3)))))
                (local.set $s0 (f32x4.add (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $p0) (local.get $p1)) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $p0) (local.get $p1))))
                (local.set $s1 (f32x4.add (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $p2) (local.get $p3)) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $p2) (local.get $p3))))
                (v128.store (local.get $op) (f32x4.mul (f32x4.add (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $s0) (local.get $s1)) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $s0) (local.get $s1))) (v128.load32_splat (local.get $yp))))
                (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
                (local.set $op (i32.add (local.get $op) (local.get $outBytes)))
                (local.set $yp (i32.add (local.get $yp) (i32.const 4)))
                (local.set $tk (i32.add (local.get $tk) (i32.const 1)))
                (br $red)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Blocked layout for rowsUpdateScaled: dst[cb][t][0..15] = src[t][16 cb .. 16 cb + 15] for n rows of
  ;; cols floats (cols a multiple of 16).
  (func $blockRows (export "blockRows") (param $src i32) (param $n i32) (param $cols i32) (param $dst i32)
    (local $t i32) (local $c i32) (local $rowBytes i32) (local $bstride i32) (local $s i32) (local $d i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $bstride (i32.shl (local.get $n) (i32.const 6)))
    (local.set $t (i32.const 0))
    (block $tDone
      (loop $tLoop
        (br_if $tDone (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $s (i32.add (local.get $src) (i32.mul (local.get $t) (local.get $rowBytes))))
        (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $t) (i32.const 6))))
        (local.set $c (i32.const 0))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (v128.store offset=0 (local.get $d) (v128.load offset=0 (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (v128.store offset=32 (local.get $d) (v128.load offset=32 (local.get $s)))
            (v128.store offset=48 (local.get $d) (v128.load offset=48 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (i32.const 64)))
            (local.set $d (i32.add (local.get $d) (local.get $bstride)))
            (local.set $c (i32.add (local.get $c) (i32.const 64)))
            (br $cLoop)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tLoop))))

  ;; rows[s][0..o-1] *= f[s] for s < n (o a multiple of 4).
  (func $scaleRows (export "scaleRows") (param $rows i32) (param $o i32) (param $n i32) (param $f i32)
    (local $s i32) (local $j i32) (local $bytes i32) (local $v v128)
    (local.set $bytes (i32.shl (local.get $o) (i32.const 2)))
    (block $sDone
      (loop $sLoop
        (br_if $sDone (i32.ge_u (local.get $s) (local.get $n)))
        (local.set $v (v128.load32_splat (local.get $f)))
        (local.set $j (i32.const 0))
        (block $jDone
          (loop $jLoop
            (br_if $jDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (v128.store (i32.add (local.get $rows) (local.get $j)) (f32x4.mul (v128.load (i32.add (local.get $rows) (local.get $j))) (local.get $v)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $jLoop)))
        (local.set $rows (i32.add (local.get $rows) (local.get $bytes)))
        (local.set $f (i32.add (local.get $f) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $sLoop))))
)
