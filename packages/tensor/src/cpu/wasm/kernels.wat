;; Float32 kernels for the CPU backend (GEMM, and elementwise ops at the end), hand-written
;; WebAssembly text with 128-bit SIMD.
;;
;; Assembled by scripts/build-wasm.ts (wabt) twice: as written, importing a *shared* memory
;; (worker threads run tasks on the same memory), and with `shared` removed for hosts
;; without SharedArrayBuffer. The result is committed as kernels.generated.ts.
;;
;; C = A B is computed BLIS-style. Both operands are first packed into panels:
;;   packed A: panels of MR = 4 rows,    element (row r, depth p) at panel[p][r]  (k*16 bytes)
;;   packed B: panels of NR = 8 columns, element (depth p, col c) at panel[p][c]  (k*32 bytes)
;; (rows/columns past the edge are zero). A 4x8 micro-kernel keeps the C tile in eight f32x4
;; registers and walks the depth in order, so each output is summed p = 0, 1, ..., k-1 like
;; the JavaScript reference kernel (only the rounding of products differs: f32 here).
;;
;; Work is split into tasks so that several threads can share it: `task(t)` reads
;; the job description that the host wrote at JOB and runs task number t.
;;
;; Memory map (bytes), mirrored by src/cpu/wasm/engine.ts:
;;   0    control block (atomics: generation, claim, pending, error, stop, ready)
;;   64   job description (see the offsets below)
;;   65536 arena (operands, packed panels, output), managed by the host
(module
  (import "env" "memory" (memory 1 32768 shared))

  ;; ---------------------------------------------------------------- job description
  ;; 64 kind: 1 = gemm, 2 = pack
  ;; gemm: 68 m, 72 n, 76 k, 80 mc (rows per tile), 84 nc (columns per tile), 88 tiles along m,
  ;;       92 tiles along n, 96 packed A, 100 its batch stride (bytes, 0 = broadcast), 104 packed B,
  ;;       108 its batch stride, 112 C (contiguous [batch, m, n]), 116 kc (depth block),
  ;;       120 tiles per task, 124 tiles in all (batch * tiles along m * tiles along n), 128 1 to
;;       run the previous micro-kernel loop (one depth step per pass, same bits; for benchmarks)
  ;; pack: one record for A at 128 and one for B at 192, each:
  ;;       +0 src, +4 src batch stride (bytes), +8 row stride, +12 depth stride (elements),
  ;;       +16 rows, +20 depth, +24 panel width (4 or 8), +28 dst, +32 dst batch stride (bytes),
  ;;       +36 panels per task, +40 panels in all (batches * panels per batch), +44 tasks
  ;; 3 = softmax rows of an attention score block [groups, rows, nk] (attention-f32.ts), one
  ;;       task per run of whole rows: 68 mode (0 forward: exp, sum and rescale, statistics
  ;;       out; 1 backward: exp(s * scale - lse); 2 softmax gradient ds_row), 72 S (bytes),
  ;;       76 rows per group, 80 nk, 84 rows in all (groups * rows), 88 rows per task,
  ;;       92 pEnd (prefix keys in the block), 96 per-row table of (from, count) i32 pairs,
  ;;       100 scale (f32), 104 forward: statistics out, (max f32, pad, sum f64) per row;
  ;;       backward: lse (f32) of row 0 of group 0, 108 the lse's group stride (elements),
  ;;       112 ds: P (bytes), 116 ds: delta (f32) of row 0 of group 0, 120 its group stride
  ;; 4 = add into, task t = group t: 68 dst, 72 its group stride, 76 src, 80 its group stride
  ;;       (bytes), 84 floats per group: dst[i] += src[i] in float32
  ;; 5 = norm rows forward, 6 = norm rows backward (rows.ts), one task per run of whole rows:
  ;;       68 norm (0 rms, 1 layer), 72 rows, 76 cols, 80 rows per task, 84 A, 88 B, 92 C, 96 D,
  ;;       104 eps (f64); forward: A x, B y, C rstd; backward: A y, B rstd, C g, D dx
  ;; 7 = rotary embedding (rows.ts), one task per run of rows of x [rows, d]: 72 rows, 76 d,
  ;;       80 rows per task, 84 x, 88 cos, 92 sin, 96 y, 100 positions t (row r is at r mod t)
;; 8 = causal depthwise convolution backward (causal-conv-wasm.ts), one task per block of
;;       channels: 68 batch, 72 tokens, 76 channels C, 80 kernel k, 84 past, 88 silu, 92 channels
;;       per task, 96 g (f32 [batch, tokens, C]), 100 U (f64 [batch, past + tokens, C]: the history
;;       rows, then act(x)), 104 S = sigmoid(x) and 108 H = 1 + x (1 - S) (f64 [batch, tokens, C],
;;       read when silu), 112 wt (f64 [k, C], tap-major), 116 dw (f64 [k, C]) and 120 db (f64 [C])
;;       out, 124 dx (f32 [batch, tokens, C]), 128 dhistory (f32 [batch, past, C]), 132 x (f32
;;       [batch, tokens, C]), 136 history (f32 [batch, past, C], zeros without one), 140 DU (f64 [C]
;;       scratch, each task its own channels); each task
;;       first writes U, S and H of its channels from x and the history (the sigmoid by $exp2)
;; 9 = softmax rows (rows-wasm.ts), 10 = their gradient, one task per run of whole rows of
;;       [rows, cols] (72 rows, 76 cols, 80 rows per task): 84 X, 88 Y (f32), 92 per-row f64 stats,
;;       96 mode. Job 9 mode 0 writes (shift, sum of exp(x - shift)) per row; modes 1 (log) and
;;       2 read lse per row and write y = x - lse or exp(x - lse). Job 10 (100 G): mode 1 (log)
;;       dx = g - exp(y) sum(g), mode 2 dx = y (g - sum(g y)), X = y, Y = dx

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

  ;; C[0:mr, 0:nr] (= or, with $acc, +=) Apanel[0:kc] x Bpanel[0:kc], where mr <= 4, nr <= 8
  ;; and $ldc is C's row stride in bytes. The panels are zero-padded, so the depth loop always
  ;; computes the full 4x8 tile; an edge tile (mr < 4 or nr < 8) only loads and stores its part.
  (func $micro (param $a i32) (param $b i32) (param $kc i32) (param $c i32) (param $ldc i32) (param $acc i32)
               (param $mr i32) (param $nr i32) (param $one i32)
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
    ;; Two depth steps per pass (the loop's bookkeeping is shared by both). The exit test
    ;; between them hands the accumulators to the branch, so TurboFan finishes the first step's
    ;; arithmetic before it loads the second step's operands: without it, V8 hoists all twelve
    ;; loads of a pass to its top, runs out of its 15 xmm registers and spills. That test also
    ;; ends an odd depth. Each output still gets one rounded product and one rounded sum per
    ;; step in increasing depth: the same bits as one step per pass.
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $kc) (i32.const 4))))
    (if (local.get $kc)
      (then
        (if (local.get $one)
          (then
            ;; The previous loop, one depth step per pass (same bits): kept for benchmarks.
            (loop $depth1
              (local.set $b0 (v128.load (local.get $b)))
              (local.set $b1 (v128.load offset=16 (local.get $b)))
              (local.set $x (v128.load32_splat (local.get $a)))
              (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
              (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
              (local.set $x (v128.load32_splat offset=4 (local.get $a)))
              (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
              (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
              (local.set $x (v128.load32_splat offset=8 (local.get $a)))
              (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
              (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
              (local.set $x (v128.load32_splat offset=12 (local.get $a)))
              (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
              (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
              (local.set $a (i32.add (local.get $a) (i32.const 16)))
              (local.set $b (i32.add (local.get $b) (i32.const 32)))
              (br_if $depth1 (i32.ne (local.get $a) (local.get $end)))))
          (else
            (block $done (result v128 v128 v128 v128 v128 v128 v128 v128)
              (loop $depth
                (local.set $b0 (v128.load (local.get $b)))
                (local.set $b1 (v128.load offset=16 (local.get $b)))
                (local.set $x (v128.load32_splat (local.get $a)))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=4 (local.get $a)))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=8 (local.get $a)))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=12 (local.get $a)))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $a (i32.add (local.get $a) (i32.const 16)))
                (br_if $done (local.get $c00) (local.get $c01) (local.get $c10) (local.get $c11) (local.get $c20) (local.get $c21) (local.get $c30) (local.get $c31)
                  (i32.eq (local.get $a) (local.get $end)))
                drop drop drop drop drop drop drop drop
                (local.set $b0 (v128.load offset=32 (local.get $b)))
                (local.set $b1 (v128.load offset=48 (local.get $b)))
                (local.set $x (v128.load32_splat (local.get $a)))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=4 (local.get $a)))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=8 (local.get $a)))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (v128.load32_splat offset=12 (local.get $a)))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $a (i32.add (local.get $a) (i32.const 16)))
                (local.set $b (i32.add (local.get $b) (i32.const 64)))
                (br_if $depth (i32.ne (local.get $a) (local.get $end))))
              (local.get $c00) (local.get $c01) (local.get $c10) (local.get $c11) (local.get $c20) (local.get $c21) (local.get $c30) (local.get $c31))
            (local.set $c31) (local.set $c30) (local.set $c21) (local.set $c20)
            (local.set $c11) (local.set $c10) (local.set $c01) (local.set $c00)))))
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
    (local $mr i32) (local $nr i32) (local $ldc i32) (local $acc i32) (local $one i32)
    (local.set $ldc (i32.shl (local.get $n) (i32.const 2)))
    (local.set $one (i32.load (i32.const 128)))
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
            (local.get $ldc) (local.get $acc) (local.get $mr) (local.get $nr) (local.get $one))
          (local.set $ir (i32.add (local.get $ir) (i32.const 4)))
          (br_if $rows (i32.lt_u (local.get $ir) (local.get $i1))))
        (local.set $jr (i32.add (local.get $jr) (i32.const 8)))
        (br_if $cols (i32.lt_u (local.get $jr) (local.get $j1))))
      (local.set $pc (i32.add (local.get $pc) (local.get $kc)))
      (br_if $depth_block (i32.lt_u (local.get $pc) (local.get $k)))))

  ;; ---------------------------------------------------------------- packing
  ;; Packs panels [p0, p1) of X (rows x depth, strides rs and cs in elements) into panels of
  ;; $w rows: dst[panel][p][r] = X[panel*w + r, p], zero past the last row.
  (func $pack (param $dst i32) (param $src i32) (param $rows i32) (param $depth i32) (param $rs i32) (param $cs i32)
              (param $w i32) (param $p0 i32) (param $p1 i32)
    (local $panel i32) (local $r0 i32) (local $valid i32) (local $d i32) (local $s i32)
    (local $p i32) (local $r i32) (local $rsb i32) (local $csb i32) (local $wb i32) (local $g i32) (local $sg i32)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rsb (i32.shl (local.get $rs) (i32.const 2)))
    (local.set $csb (i32.shl (local.get $cs) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $panel (local.get $p0))
    (block $done
      (loop $panels
        (br_if $done (i32.ge_u (local.get $panel) (local.get $p1)))
        (local.set $r0 (i32.mul (local.get $panel) (local.get $w)))
        (local.set $valid (i32.sub (local.get $rows) (local.get $r0)))
        (if (i32.gt_u (local.get $valid) (local.get $w)) (then (local.set $valid (local.get $w))))
        (local.set $d (i32.add (local.get $dst) (i32.mul (i32.mul (local.get $panel) (local.get $depth)) (local.get $wb))))
        (local.set $s (i32.add (local.get $src) (i32.mul (local.get $r0) (local.get $rsb))))
        (local.set $p (i32.const 0))
        (if (i32.and (i32.eq (local.get $valid) (local.get $w)) (i32.eq (local.get $rs) (i32.const 1)))
          (then
            ;; The panel's w values at one depth are contiguous: vector copies.
            (block $c_done
              (loop $c_depth
                (br_if $c_done (i32.ge_u (local.get $p) (local.get $depth)))
                (v128.store (local.get $d) (v128.load (local.get $s)))
                (if (i32.eq (local.get $w) (i32.const 8))
                  (then (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))))
                (local.set $d (i32.add (local.get $d) (local.get $wb)))
                (local.set $s (i32.add (local.get $s) (local.get $csb)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $c_depth))))
          (else
            (if (i32.and (i32.eq (local.get $valid) (local.get $w)) (i32.eq (local.get $cs) (i32.const 1)))
              (then
                ;; Each row is contiguous along the depth: 4x4 transposes, then a scalar tail.
                (local.set $g (i32.const 0))
                (loop $groups
                  (local.set $sg (i32.add (local.get $s) (i32.mul (local.get $g) (local.get $rsb))))
                  (local.set $p (i32.const 0))
                  (block $t_done
                    (loop $t_depth
                      (br_if $t_done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $depth)))
                      (local.set $q0 (v128.load (i32.add (local.get $sg) (i32.shl (local.get $p) (i32.const 2)))))
                      (local.set $q1 (v128.load (i32.add (i32.add (local.get $sg) (local.get $rsb)) (i32.shl (local.get $p) (i32.const 2)))))
                      (local.set $q2 (v128.load (i32.add (i32.add (local.get $sg) (i32.shl (local.get $rsb) (i32.const 1))) (i32.shl (local.get $p) (i32.const 2)))))
                      (local.set $q3 (v128.load (i32.add (i32.add (local.get $sg) (i32.mul (local.get $rsb) (i32.const 3))) (i32.shl (local.get $p) (i32.const 2)))))
                      (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $q0) (local.get $q1)))
                      (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $q0) (local.get $q1)))
                      (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $q2) (local.get $q3)))
                      (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $q2) (local.get $q3)))
                      (local.set $r (i32.add (local.get $d) (i32.add (i32.mul (local.get $p) (local.get $wb)) (i32.shl (local.get $g) (i32.const 2)))))
                      (v128.store (local.get $r) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                      (local.set $r (i32.add (local.get $r) (local.get $wb)))
                      (v128.store (local.get $r) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                      (local.set $r (i32.add (local.get $r) (local.get $wb)))
                      (v128.store (local.get $r) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                      (local.set $r (i32.add (local.get $r) (local.get $wb)))
                      (v128.store (local.get $r) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                      (local.set $p (i32.add (local.get $p) (i32.const 4)))
                      (br $t_depth)))
                  (local.set $g (i32.add (local.get $g) (i32.const 4)))
                  (br_if $groups (i32.lt_u (local.get $g) (local.get $w))))
                ;; depth tail (p is where the 4-wide loop stopped): scalar
                (local.set $d (i32.add (local.get $d) (i32.mul (local.get $p) (local.get $wb))))
                (local.set $s (i32.add (local.get $s) (i32.shl (local.get $p) (i32.const 2))))))
            ;; Scalar path (any strides, edge panels, depth tails).
            (block $s_done
              (loop $s_depth
                (br_if $s_done (i32.ge_u (local.get $p) (local.get $depth)))
                (local.set $r (i32.const 0))
                (block $rows_done
                  (loop $rows
                    (br_if $rows_done (i32.ge_u (local.get $r) (local.get $w)))
                    (f32.store (i32.add (local.get $d) (i32.shl (local.get $r) (i32.const 2)))
                      (if (result f32) (i32.lt_u (local.get $r) (local.get $valid))
                        (then (f32.load (i32.add (local.get $s) (i32.mul (local.get $r) (local.get $rsb)))))
                        (else (f32.const 0))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $rows)))
                (local.set $d (i32.add (local.get $d) (local.get $wb)))
                (local.set $s (i32.add (local.get $s) (local.get $csb)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $s_depth)))))
        (local.set $panel (i32.add (local.get $panel) (i32.const 1)))
        (br $panels))))

  ;; Runs task t of a pack record at $rec: panels [t*G, (t+1)*G) counted across batches.
  (func $pack_task (param $rec i32) (param $t i32)
    (local $w i32) (local $panels i32) (local $q i32) (local $q1 i32) (local $batch i32) (local $p i32)
    (local.set $w (i32.load offset=24 (local.get $rec)))
    (local.set $panels (i32.div_u (i32.add (i32.load offset=16 (local.get $rec)) (i32.sub (local.get $w) (i32.const 1))) (local.get $w)))
    (local.set $q (i32.mul (local.get $t) (i32.load offset=36 (local.get $rec))))
    (local.set $q1 (i32.add (local.get $q) (i32.load offset=36 (local.get $rec))))
    (if (i32.gt_u (local.get $q1) (i32.load offset=40 (local.get $rec))) (then (local.set $q1 (i32.load offset=40 (local.get $rec)))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $q) (local.get $q1)))
        (local.set $batch (i32.div_u (local.get $q) (local.get $panels)))
        (local.set $p (i32.rem_u (local.get $q) (local.get $panels)))
        (call $pack
          (i32.add (i32.load offset=28 (local.get $rec)) (i32.mul (local.get $batch) (i32.load offset=32 (local.get $rec))))
          (i32.add (i32.load (local.get $rec)) (i32.mul (local.get $batch) (i32.load offset=4 (local.get $rec))))
          (i32.load offset=16 (local.get $rec)) (i32.load offset=20 (local.get $rec))
          (i32.load offset=8 (local.get $rec)) (i32.load offset=12 (local.get $rec))
          (local.get $w) (local.get $p) (i32.add (local.get $p) (i32.const 1)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $each))))

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

  ;; ---------------------------------------------------------------- elementwise (float32)
  ;; Each op gives the same bits as the JavaScript kernels, which compute in float64 and round
  ;; to float32: for + - * / and sqrt of float32 operands that double rounding is exact, and
  ;; maximum/minimum/relu use the same comparisons (so NaN picks the same operand).

  ;; One row of a binary op: out[c] = op(l, r) for c < n, where {l, r} = {x[c], y[c*ycs]}, in
  ;; that order unless $swap. One function per op keeps the loop free of dispatch; the last
  ;; n % 4 elements go through lane 0 of the same vector code.
  (func $row_add (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (f32x4.add (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (f32x4.add (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $row_sub (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (f32x4.sub (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (f32x4.sub (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $row_mul (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (f32x4.mul (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (f32x4.mul (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $row_div (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (f32x4.div (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (f32x4.div (local.get $l) (local.get $r)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $row_maximum (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (v128.bitselect (local.get $l) (local.get $r) (f32x4.ge (local.get $l) (local.get $r))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (v128.bitselect (local.get $l) (local.get $r) (f32x4.ge (local.get $l) (local.get $r))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $row_minimum (param $out i32) (param $x i32) (param $y i32) (param $ycs i32) (param $swap i32) (param $n i32)
    (local $i i32) (local $xv v128) (local $yv v128) (local $ys v128) (local $l v128) (local $r v128) (local $step i32)
    (local.set $ys (v128.load32_splat (local.get $y)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 4)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $yv (select (v128.load (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store (local.get $out) (v128.bitselect (local.get $l) (local.get $r) (f32x4.le (local.get $l) (local.get $r))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $step (i32.shl (local.get $ycs) (i32.const 2)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $xv (v128.load32_zero (local.get $x)))
        (local.set $yv (select (v128.load32_zero (local.get $y)) (local.get $ys) (local.get $ycs)))
        (local.set $l (select (local.get $yv) (local.get $xv) (local.get $swap)))
        (local.set $r (select (local.get $xv) (local.get $yv) (local.get $swap)))
        (v128.store32_lane 0 (local.get $out) (v128.bitselect (local.get $l) (local.get $r) (f32x4.le (local.get $l) (local.get $r))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (local.get $step)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; out[r, c] = op(x[r*xrs + c], y[r*yrs + c*ycs]) (operands swapped when $swap) for r < rows,
  ;; c < cols, into a contiguous out; strides in elements, ycs is 1 or 0 (y constant along a
  ;; row). Op codes: 0 add, 1 sub, 2 mul, 3 div, 4 maximum (l >= r ? l : r), 5 minimum
  ;; (l <= r ? l : r).
  (func (export "binary") (param $op i32) (param $swap i32) (param $out i32) (param $x i32) (param $xrs i32)
                          (param $y i32) (param $yrs i32) (param $ycs i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $px i32) (local $py i32) (local $po i32)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $px (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $xrs)) (i32.const 2))))
        (local.set $py (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $yrs)) (i32.const 2))))
        (local.set $po (i32.add (local.get $out) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
        (block $b5 (block $b4 (block $b3 (block $b2 (block $b1 (block $b0
          (br_table $b0 $b1 $b2 $b3 $b4 $b5 (local.get $op)))
          (call $row_add (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols)) (br $b5))
          (call $row_sub (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols)) (br $b5))
          (call $row_mul (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols)) (br $b5))
          (call $row_div (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols)) (br $b5))
          (call $row_maximum (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols)) (br $b5))
        (if (i32.eq (local.get $op) (i32.const 5))
          (then (call $row_minimum (local.get $po) (local.get $px) (local.get $py) (local.get $ycs) (local.get $swap) (local.get $cols))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; out[i] = op(x[i]) for i < n, both contiguous, one function per op. Op codes: 0 neg, 1 abs,
  ;; 2 sqrt, 3 square, 4 relu (x > 0 ? x : 0).
  (func $unary_neg (param $out i32) (param $x i32) (param $n i32)
    (local $i i32) (local $v v128)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $out) (f32x4.neg (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load32_zero (local.get $x)))
        (v128.store32_lane 0 (local.get $out) (f32x4.neg (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $unary_abs (param $out i32) (param $x i32) (param $n i32)
    (local $i i32) (local $v v128)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $out) (f32x4.abs (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load32_zero (local.get $x)))
        (v128.store32_lane 0 (local.get $out) (f32x4.abs (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $unary_sqrt (param $out i32) (param $x i32) (param $n i32)
    (local $i i32) (local $v v128)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $out) (f32x4.sqrt (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load32_zero (local.get $x)))
        (v128.store32_lane 0 (local.get $out) (f32x4.sqrt (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $unary_square (param $out i32) (param $x i32) (param $n i32)
    (local $i i32) (local $v v128)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $out) (f32x4.mul (local.get $v) (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load32_zero (local.get $x)))
        (v128.store32_lane 0 (local.get $out) (f32x4.mul (local.get $v) (local.get $v)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func $unary_relu (param $out i32) (param $x i32) (param $n i32)
    (local $i i32) (local $v v128)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $out) (v128.and (local.get $v) (f32x4.gt (local.get $v) (v128.const i32x4 0 0 0 0))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load32_zero (local.get $x)))
        (v128.store32_lane 0 (local.get $out) (v128.and (local.get $v) (f32x4.gt (local.get $v) (v128.const i32x4 0 0 0 0))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  (func (export "unary") (param $op i32) (param $out i32) (param $x i32) (param $n i32)
    (block $b4 (block $b3 (block $b2 (block $b1 (block $b0
      (br_table $b0 $b1 $b2 $b3 $b4 (local.get $op)))
      (call $unary_neg (local.get $out) (local.get $x) (local.get $n)) (return))
      (call $unary_abs (local.get $out) (local.get $x) (local.get $n)) (return))
      (call $unary_sqrt (local.get $out) (local.get $x) (local.get $n)) (return))
      (call $unary_square (local.get $out) (local.get $x) (local.get $n)) (return))
    (call $unary_relu (local.get $out) (local.get $x) (local.get $n)))

  ;; ---------------------------------------------------------------- attention rows
  ;; Helpers of the float32 attention (attention-f32.ts) on one row segment of a score block
  ;; in this memory: the max, the exponentials and their sum, a rescale, and the gradient
  ;; through the softmax. Arithmetic in float32; exp is a polynomial (below).

  ;; exp of each lane, relative error about 2 ulp: x = n ln2 + r with |r| <= ln2 / 2
  ;; (ln2 in two parts), e^r by a degree-7 polynomial, 2^n through the exponent bits. Lanes
  ;; below -88 give 0, above 88 are clamped to 88; NaN stays NaN.
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x) (v128.const f32x4 -88 -88 -88 -88)) (v128.const f32x4 88 88 88 88)))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
                             (f32x4.mul (local.get $n) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r)) (local.get $r))
                             (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; max over i < n of x[i] * scale (-Infinity when n is 0).
  (func $seg_max (export "seg_max") (param $p i32) (param $n i32) (param $scale f32) (result f32)
    (local $i i32) (local $m v128) (local $sv v128) (local $r f32)
    (local.set $sv (f32x4.splat (local.get $scale)))
    (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $m (f32x4.max (local.get $m) (f32x4.mul (v128.load (local.get $p)) (local.get $sv))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $r (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
                           (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $r (f32.max (local.get $r) (f32.mul (f32.load (local.get $p)) (local.get $scale))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $r))

  ;; x[i] = exp(x[i] * scale - shift) for i < n; returns the sum of the new values.
  (func $seg_exp (export "seg_exp") (param $p i32) (param $n i32) (param $scale f32) (param $shift f32) (result f32)
    (local $i i32) (local $sv v128) (local $hv v128) (local $v v128) (local $acc v128) (local $t f32)
    (local.set $sv (f32x4.splat (local.get $scale)))
    (local.set $hv (f32x4.splat (local.get $shift)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $v (call $exp4 (f32x4.sub (f32x4.mul (v128.load (local.get $p)) (local.get $sv)) (local.get $hv))))
        (v128.store (local.get $p) (local.get $v))
        (local.set $acc (f32x4.add (local.get $acc) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (call $exp4 (f32x4.sub (f32x4.mul (v128.load32_zero (local.get $p)) (local.get $sv)) (local.get $hv))))
        (v128.store32_lane 0 (local.get $p) (local.get $v))
        (local.set $t (f32.add (local.get $t) (f32x4.extract_lane 0 (local.get $v))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
             (local.get $t)))

  ;; x[i] = x[i] * f for i < n.
  (func $seg_scale (export "seg_scale") (param $p i32) (param $n i32) (param $f f32)
    (local $i i32) (local $fv v128)
    (local.set $fv (f32x4.splat (local.get $f)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $fv)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (local.get $f)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; Gradient through the softmax: s[i] = p[i] * (s[i] - delta) * scale for i < n.
  (func $ds_row (export "ds_row") (param $s i32) (param $p i32) (param $n i32) (param $delta f32) (param $scale f32)
    (local $i i32) (local $dv v128) (local $sv v128)
    (local.set $dv (f32x4.splat (local.get $delta)))
    (local.set $sv (f32x4.splat (local.get $scale)))
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (v128.store (local.get $s) (f32x4.mul (f32x4.mul (v128.load (local.get $p)) (f32x4.sub (v128.load (local.get $s)) (local.get $dv))) (local.get $sv)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (local.get $s) (f32.mul (f32.mul (f32.load (local.get $p)) (f32.sub (f32.load (local.get $s)) (local.get $delta))) (local.get $scale)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; ---------------------------------------------------------------- tasks
  ;; Zeros x[i] for i < n.
  (func $zero (param $p i32) (param $n i32)
    (local $end i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $z
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (f32.store (local.get $p) (f32.const 0))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $z))))

  ;; One row of a softmax-rows job (kind 3), exactly the arithmetic of softmaxBlockInMemory /
  ;; the ds_row loop in attention-f32.ts (the two segment results are added in float64, the
  ;; rescale factor is 1 / sum in float64 rounded to float32), so a row's result does not
  ;; depend on which thread runs it.
  (func $softmax_row (param $row i32)
    (local $g i32) (local $r i32) (local $nk i32) (local $base i32) (local $pEnd i32) (local $from i32)
    (local $count i32) (local $scale f32) (local $m f32) (local $sum f64) (local $l f32) (local $mode i32)
    (local $p1 i32) (local $st i32)
    (local.set $mode (i32.load (i32.const 68)))
    (local.set $nk (i32.load (i32.const 80)))
    (local.set $g (i32.div_u (local.get $row) (i32.load (i32.const 76))))
    (local.set $r (i32.rem_u (local.get $row) (i32.load (i32.const 76))))
    (local.set $base (i32.add (i32.load (i32.const 72)) (i32.shl (i32.mul (local.get $row) (local.get $nk)) (i32.const 2))))
    (local.set $scale (f32.load (i32.const 100)))
    (if (i32.eq (local.get $mode) (i32.const 2))
      (then
        (call $ds_row (local.get $base)
          (i32.add (i32.load (i32.const 112)) (i32.shl (i32.mul (local.get $row) (local.get $nk)) (i32.const 2)))
          (local.get $nk)
          (f32.load (i32.add (i32.load (i32.const 116))
            (i32.shl (i32.add (i32.mul (local.get $g) (i32.load (i32.const 120))) (local.get $r)) (i32.const 2))))
          (local.get $scale))
        (return)))
    (local.set $pEnd (i32.load (i32.const 92)))
    (local.set $from (i32.load (i32.add (i32.load (i32.const 96)) (i32.shl (local.get $r) (i32.const 3)))))
    (local.set $count (i32.load offset=4 (i32.add (i32.load (i32.const 96)) (i32.shl (local.get $r) (i32.const 3)))))
    (local.set $p1 (i32.add (local.get $base) (i32.shl (local.get $from) (i32.const 2))))
    (if (i32.eqz (local.get $mode))
      (then
        (local.set $m (f32.max (call $seg_max (local.get $base) (local.get $pEnd) (local.get $scale))
                               (call $seg_max (local.get $p1) (local.get $count) (local.get $scale))))
        (if (f32.gt (local.get $m) (f32.const -inf))
          (then (local.set $sum (f64.add (f64.promote_f32 (call $seg_exp (local.get $base) (local.get $pEnd) (local.get $scale) (local.get $m)))
                                         (f64.promote_f32 (call $seg_exp (local.get $p1) (local.get $count) (local.get $scale) (local.get $m)))))))
        (local.set $st (i32.add (i32.load (i32.const 104)) (i32.shl (local.get $row) (i32.const 4))))
        (f32.store (local.get $st) (local.get $m))
        (f64.store offset=8 (local.get $st) (local.get $sum))
        (if (i32.eqz (f64.gt (local.get $sum) (f64.const 0)))
          (then (call $zero (local.get $base) (local.get $nk)) (return)))
        (call $seg_scale (local.get $base) (local.get $pEnd) (f32.demote_f64 (f64.div (f64.const 1) (local.get $sum))))
        (call $seg_scale (local.get $p1) (local.get $count) (f32.demote_f64 (f64.div (f64.const 1) (local.get $sum)))))
      (else
        (local.set $l (f32.load (i32.add (i32.load (i32.const 104))
          (i32.shl (i32.add (i32.mul (local.get $g) (i32.load (i32.const 108))) (local.get $r)) (i32.const 2)))))
        (if (f32.eq (local.get $l) (f32.const -inf))
          (then (call $zero (local.get $base) (local.get $nk)) (return)))
        (drop (call $seg_exp (local.get $base) (local.get $pEnd) (local.get $scale) (local.get $l)))
        (drop (call $seg_exp (local.get $p1) (local.get $count) (local.get $scale) (local.get $l)))))
    (call $zero (i32.add (local.get $base) (i32.shl (local.get $pEnd) (i32.const 2))) (i32.sub (local.get $from) (local.get $pEnd)))
    (call $zero (i32.add (local.get $p1) (i32.shl (local.get $count) (i32.const 2)))
                (i32.sub (local.get $nk) (i32.add (local.get $from) (local.get $count)))))

  ;; dst[i] = dst[i] + src[i] for i < n (float32).
  (func $add_into (param $dst i32) (param $src i32) (param $n i32)
    (local $i i32)
    (block $done
      (loop $vec
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))


  ;; ---------------------------------------------------------------- row kernels (rows.ts)
  ;; The arithmetic of normRowsKernel, normRowsBackwardKernel and ropeKernel in rows.ts, step
  ;; for step in float64 (JavaScript numbers) with float32 loads and one rounding per output,
  ;; so the results are the JavaScript kernels' bits, whichever thread runs a row.

  ;; Row $r of a norm forward (kind 5).
  (func $norm_row (param $r i32)
    (local $cols i32) (local $x i32) (local $y i32) (local $end i32) (local $mean f64) (local $sq f64)
    (local $v f64) (local $s f64) (local $sr f64) (local $n f64) (local $mean2 v128) (local $sr2 v128)
    (local.set $cols (i32.load (i32.const 76)))
    (local.set $n (f64.convert_i32_u (local.get $cols)))
    (local.set $x (i32.add (i32.load (i32.const 84)) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
    (if (i32.load (i32.const 68))
      (then
        (local.set $y (local.get $x))
        (block $done (loop $sum
          (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
          (local.set $mean (f64.add (local.get $mean) (f64.promote_f32 (f32.load (local.get $y)))))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))
          (br $sum)))
        (local.set $mean (f64.div (local.get $mean) (local.get $n)))))
    (local.set $y (local.get $x))
    (block $done (loop $squares
      (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
      (local.set $v (f64.sub (f64.promote_f32 (f32.load (local.get $y))) (local.get $mean)))
      (local.set $sq (f64.add (local.get $sq) (f64.mul (local.get $v) (local.get $v))))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $squares)))
    (local.set $s (f64.div (f64.const 1) (f64.sqrt (f64.add (f64.div (local.get $sq) (local.get $n)) (f64.load (i32.const 104))))))
    (f32.store (i32.add (i32.load (i32.const 92)) (i32.shl (local.get $r) (i32.const 2))) (f32.demote_f64 (local.get $s)))
    (local.set $sr (f64.promote_f32 (f32.demote_f64 (local.get $s))))
    (local.set $y (i32.add (i32.load (i32.const 88)) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
    ;; Two floats at a time in float64 lanes (the same arithmetic per element), then the last one.
    (local.set $mean2 (f64x2.splat (local.get $mean)))
    (local.set $sr2 (f64x2.splat (local.get $sr)))
    (block $done (loop $pairs
      (br_if $done (i32.gt_u (i32.add (local.get $x) (i32.const 8)) (local.get $end)))
      (v128.store64_lane 0 (local.get $y) (f32x4.demote_f64x2_zero
        (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $x))) (local.get $mean2)) (local.get $sr2))))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (local.set $y (i32.add (local.get $y) (i32.const 8)))
      (br $pairs)))
    (if (i32.lt_u (local.get $x) (local.get $end))
      (then (f32.store (local.get $y) (f32.demote_f64 (f64.mul (f64.sub (f64.promote_f32 (f32.load (local.get $x))) (local.get $mean)) (local.get $sr)))))))

  ;; Row $r of a norm backward (kind 6).
  (func $norm_back_row (param $r i32)
    (local $cols i32) (local $off i32) (local $i i32) (local $y i32) (local $g i32) (local $dx i32)
    (local $gy f64) (local $gs f64) (local $gv f64) (local $a f64) (local $b f64) (local $s f64) (local $n f64)
    (local $a2 v128) (local $b2 v128) (local $s2 v128)
    (local.set $cols (i32.load (i32.const 76)))
    (local.set $n (f64.convert_i32_u (local.get $cols)))
    (local.set $off (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
    (local.set $y (i32.add (i32.load (i32.const 84)) (local.get $off)))
    (local.set $g (i32.add (i32.load (i32.const 92)) (local.get $off)))
    (local.set $dx (i32.add (i32.load (i32.const 96)) (local.get $off)))
    (local.set $i (i32.const 0))
    (block $done (loop $sums
      (br_if $done (i32.ge_u (local.get $i) (local.get $cols)))
      (local.set $gv (f64.promote_f32 (f32.load (i32.add (local.get $g) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $gy (f64.add (local.get $gy) (f64.mul (local.get $gv) (f64.promote_f32 (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2))))))))
      (local.set $gs (f64.add (local.get $gs) (local.get $gv)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sums)))
    (local.set $a (f64.div (local.get $gy) (local.get $n)))
    (if (i32.load (i32.const 68)) (then (local.set $b (f64.div (local.get $gs) (local.get $n)))))
    (local.set $s (f64.promote_f32 (f32.load (i32.add (i32.load (i32.const 88)) (i32.shl (local.get $r) (i32.const 2))))))
    (local.set $a2 (f64x2.splat (local.get $a)))
    (local.set $b2 (f64x2.splat (local.get $b)))
    (local.set $s2 (f64x2.splat (local.get $s)))
    (local.set $i (i32.const 0))
    (block $done (loop $pairs
      (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $cols)))
      (v128.store64_lane 0 (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
        (f32x4.demote_f64x2_zero (f64x2.mul (local.get $s2)
          (f64x2.sub
            (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $g) (i32.shl (local.get $i) (i32.const 2))))) (local.get $b2))
            (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2))))) (local.get $a2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $pairs)))
    (if (i32.lt_u (local.get $i) (local.get $cols))
      (then
        (f32.store (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
          (f32.demote_f64 (f64.mul (local.get $s)
            (f64.sub
              (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $g) (i32.shl (local.get $i) (i32.const 2))))) (local.get $b))
              (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2))))) (local.get $a)))))))))

  ;; Row $r of a rotary embedding (kind 7): x and y rows of d floats, tables rows of d / 2.
  (func $rope_row (param $r i32)
    (local $d i32) (local $half i32) (local $x i32) (local $y i32) (local $tb i32) (local $i i32) (local $o i32)
    (local $x1 f64) (local $x2 f64) (local $c f64) (local $s f64) (local $hb i32) (local $cs i32) (local $ss i32)
    (local $x1v v128) (local $x2v v128) (local $cv v128) (local $sv v128)
    (local.set $d (i32.load (i32.const 76)))
    (local.set $half (i32.shr_u (local.get $d) (i32.const 1)))
    (local.set $x (i32.add (i32.load (i32.const 84)) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
    (local.set $y (i32.add (i32.load (i32.const 96)) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
    (local.set $tb (i32.shl (i32.mul (i32.rem_u (local.get $r) (i32.load (i32.const 100))) (local.get $half)) (i32.const 2)))
    (local.set $hb (i32.shl (local.get $half) (i32.const 2)))
    (local.set $cs (i32.add (i32.load (i32.const 88)) (local.get $tb)))
    (local.set $ss (i32.add (i32.load (i32.const 92)) (local.get $tb)))
    ;; Two pairs at a time in float64 lanes (the same arithmetic per element), then the last one.
    (block $done (loop $pairs
      (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $half)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $x1v (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $o)))))
      (local.set $x2v (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (i32.add (local.get $o) (local.get $hb))))))
      (local.set $cv (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $cs) (local.get $o)))))
      (local.set $sv (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $ss) (local.get $o)))))
      (v128.store64_lane 0 (i32.add (local.get $y) (local.get $o))
        (f32x4.demote_f64x2_zero (f64x2.sub (f64x2.mul (local.get $x1v) (local.get $cv)) (f64x2.mul (local.get $x2v) (local.get $sv)))))
      (v128.store64_lane 0 (i32.add (local.get $y) (i32.add (local.get $o) (local.get $hb)))
        (f32x4.demote_f64x2_zero (f64x2.add (f64x2.mul (local.get $x1v) (local.get $sv)) (f64x2.mul (local.get $x2v) (local.get $cv)))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $pairs)))
    (if (i32.lt_u (local.get $i) (local.get $half))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x1 (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $o)))))
        (local.set $x2 (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.add (local.get $o) (local.get $hb))))))
        (local.set $c (f64.promote_f32 (f32.load (i32.add (local.get $cs) (local.get $o)))))
        (local.set $s (f64.promote_f32 (f32.load (i32.add (local.get $ss) (local.get $o)))))
        (f32.store (i32.add (local.get $y) (local.get $o))
          (f32.demote_f64 (f64.sub (f64.mul (local.get $x1) (local.get $c)) (f64.mul (local.get $x2) (local.get $s)))))
        (f32.store (i32.add (local.get $y) (i32.add (local.get $o) (local.get $hb)))
          (f32.demote_f64 (f64.add (f64.mul (local.get $x1) (local.get $s)) (f64.mul (local.get $x2) (local.get $c))))))))

  ;; Runs rows [t * per, min((t + 1) * per, rows)) of a row job (kinds 5, 6, 7).
  (func $row_task (param $t i32) (param $kind i32)
    (local $r i32) (local $end i32)
    (local.set $r (i32.mul (local.get $t) (i32.load (i32.const 80))))
    (local.set $end (i32.add (local.get $r) (i32.load (i32.const 80))))
    (if (i32.gt_u (local.get $end) (i32.load (i32.const 72))) (then (local.set $end (i32.load (i32.const 72)))))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $end)))
      (if (i32.eq (local.get $kind) (i32.const 5)) (then (call $norm_row (local.get $r))))
      (if (i32.eq (local.get $kind) (i32.const 6)) (then (call $norm_back_row (local.get $r))))
      (if (i32.eq (local.get $kind) (i32.const 7)) (then (call $rope_row (local.get $r))))
      (if (i32.ge_u (local.get $kind) (i32.const 9)) (then (call $softmax_rows_row (local.get $r) (local.get $kind))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; ---------------------------------------------------------------- exp (float64)
  ;; fdlibm's exp as V8's Math.exp computes it, on two lanes: the double operations of its general
  ;; path in its order (the reduction k = round(x / ln2) with fdlibm's k = 0 band, the polynomial,
  ;; one scaling by 2^k1 2^(k - k1)), then its special cases (tiny |x|: 1 + x; x = 1: e as V8
  ;; returns it; overflow, underflow, NaN). rows-wasm.ts checks it against Math.exp, bit for bit,
  ;; before the first use and keeps the JavaScript loops where it differs.
  (func $pow2 (param $v v128) (result v128)
    (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $v))) (v128.const i64x2 1023 1023)) (i32.const 52)))
  (func $exp2 (param $x v128) (result v128)
    (local $k v128) (local $hi v128) (local $lo v128) (local $r v128) (local $t v128) (local $c v128) (local $y v128) (local $k1 v128)
    (local.set $k (f64x2.trunc (f64x2.add (f64x2.mul (local.get $x) (v128.const f64x2 0x1.71547652b82fep+0 0x1.71547652b82fep+0))
      (v128.or (v128.and (local.get $x) (v128.const f64x2 -0x0p+0 -0x0p+0)) (v128.const f64x2 0x1.0000000000000p-1 0x1.0000000000000p-1)))))
    (local.set $k (v128.andnot (local.get $k) (f64x2.le (f64x2.abs (local.get $x)) (v128.const i64x2 0x3fd62e42ffffffff 0x3fd62e42ffffffff))))
    (local.set $hi (f64x2.sub (local.get $x) (f64x2.mul (local.get $k) (v128.const f64x2 0x1.62e42fee00000p-1 0x1.62e42fee00000p-1))))
    (local.set $lo (f64x2.mul (local.get $k) (v128.const f64x2 0x1.a39ef35793c76p-33 0x1.a39ef35793c76p-33)))
    (local.set $r (f64x2.sub (local.get $hi) (local.get $lo)))
    (local.set $t (f64x2.mul (local.get $r) (local.get $r)))
    (local.set $c (f64x2.mul (local.get $t) (v128.const f64x2 0x1.6376972bea4d0p-25 0x1.6376972bea4d0p-25)))
    (local.set $c (f64x2.mul (local.get $t) (f64x2.add (v128.const f64x2 -0x1.bbd41c5d26bf1p-20 -0x1.bbd41c5d26bf1p-20) (local.get $c))))
    (local.set $c (f64x2.mul (local.get $t) (f64x2.add (v128.const f64x2 0x1.1566aaf25de2cp-14 0x1.1566aaf25de2cp-14) (local.get $c))))
    (local.set $c (f64x2.mul (local.get $t) (f64x2.add (v128.const f64x2 -0x1.6c16c16bebd93p-9 -0x1.6c16c16bebd93p-9) (local.get $c))))
    (local.set $c (f64x2.mul (local.get $t) (f64x2.add (v128.const f64x2 0x1.555555555553ep-3 0x1.555555555553ep-3) (local.get $c))))
    (local.set $c (f64x2.sub (local.get $r) (local.get $c)))
    (local.set $y (f64x2.sub (v128.const f64x2 0x1.0000000000000p+0 0x1.0000000000000p+0) (f64x2.sub (f64x2.sub (local.get $lo)
      (f64x2.div (f64x2.mul (local.get $r) (local.get $c)) (f64x2.sub (v128.const f64x2 0x1.0000000000000p+1 0x1.0000000000000p+1) (local.get $c)))) (local.get $hi))))
    (local.set $k1 (f64x2.floor (f64x2.mul (local.get $k) (v128.const f64x2 0x1.0000000000000p-1 0x1.0000000000000p-1))))
    (local.set $y (f64x2.mul (f64x2.mul (local.get $y) (call $pow2 (local.get $k1))) (call $pow2 (f64x2.sub (local.get $k) (local.get $k1)))))
    (local.set $y (v128.bitselect (f64x2.add (v128.const f64x2 0x1.0000000000000p+0 0x1.0000000000000p+0) (local.get $x)) (local.get $y) (f64x2.lt (f64x2.abs (local.get $x)) (v128.const f64x2 0x1.0000000000000p-28 0x1.0000000000000p-28))))
    (local.set $y (v128.bitselect (v128.const f64x2 0x1.5bf0a8b145769p+1 0x1.5bf0a8b145769p+1) (local.get $y) (f64x2.eq (local.get $x) (v128.const f64x2 0x1.0000000000000p+0 0x1.0000000000000p+0))))
    (local.set $y (v128.bitselect (v128.const f64x2 inf inf) (local.get $y) (f64x2.gt (local.get $x) (v128.const f64x2 0x1.62e42fefa39efp+9 0x1.62e42fefa39efp+9))))
    (local.set $y (v128.bitselect (v128.const f64x2 0x0.0p+0 0x0.0p+0) (local.get $y) (f64x2.lt (local.get $x) (v128.const f64x2 -0x1.74910d52d3051p+9 -0x1.74910d52d3051p+9))))
    (v128.bitselect (f64x2.add (local.get $x) (local.get $x)) (local.get $y) (f64x2.ne (local.get $x) (local.get $x))))
  (func (export "exp") (param $x f64) (result f64)
    (f64x2.extract_lane 0 (call $exp2 (f64x2.splat (local.get $x)))))

  ;; ---------------------------------------------------------------- softmax rows
  ;; Row $r of job 9 or 10 (see the job description): the arithmetic of softmaxRowsKernel and
  ;; softmaxRowsBackwardKernel (rows.ts) in float64, sums in column order, exp two columns at a
  ;; time; the per-row log (Math.log) is taken by the host between modes 0 and 1/2.
  (func $softmax_rows_row (param $r i32) (param $kind i32)
    (local $cols i32) (local $x i32) (local $y i32) (local $g i32) (local $st i32) (local $mode i32) (local $c i32)
    (local $m f64) (local $v f64) (local $sum f64) (local $shift f64) (local $e v128) (local $a v128)
    (local.set $cols (i32.load (i32.const 76)))
    (local.set $x (i32.add (i32.load (i32.const 84)) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
    (local.set $y (i32.add (i32.load (i32.const 88)) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
    (local.set $g (i32.add (i32.load (i32.const 100)) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
    (local.set $st (i32.add (i32.load (i32.const 92)) (i32.shl (local.get $r) (i32.const 4))))
    (local.set $mode (i32.load (i32.const 96)))
    (if (i32.eq (local.get $kind) (i32.const 9))
      (then
        (if (i32.eqz (local.get $mode))
          (then
            ;; max (a NaN wins), the shift (0 for an infinite max), the sum of exp(x - shift)
            (local.set $m (f64.const -inf))
            (block $mx_done (loop $mx
              (br_if $mx_done (i32.ge_u (local.get $c) (local.get $cols)))
              (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))))
              (if (i32.or (f64.gt (local.get $v) (local.get $m)) (f64.ne (local.get $v) (local.get $v))) (then (local.set $m (local.get $v))))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              (br $mx)))
            ;; finite: m - m is 0 (not NaN, not infinite)
            (local.set $shift (select (local.get $m) (f64.const 0) (f64.eq (f64.sub (local.get $m) (local.get $m)) (f64.const 0))))
            (local.set $c (i32.const 0))
            (block $s_done (loop $s
              (br_if $s_done (i32.ge_u (local.get $c) (local.get $cols)))
              (local.set $a (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))))
              (local.set $e (call $exp2 (f64x2.sub (local.get $a) (f64x2.splat (local.get $shift)))))
              (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 0 (local.get $e))))
              (if (i32.lt_u (i32.add (local.get $c) (i32.const 1)) (local.get $cols))
                (then (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 1 (local.get $e))))))
              (local.set $c (i32.add (local.get $c) (i32.const 2)))
              (br $s)))
            (f64.store (local.get $st) (local.get $shift))
            (f64.store offset=8 (local.get $st) (local.get $sum))
            (return)))
        ;; modes 1, 2: y = x - lse or exp(x - lse), lse at the row's first stat
        (local.set $shift (f64.load (local.get $st)))
        (block $w_done (loop $w
          (br_if $w_done (i32.ge_u (local.get $c) (local.get $cols)))
          (local.set $a (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2)))))
                                   (f64x2.splat (local.get $shift))))
          (if (i32.eq (local.get $mode) (i32.const 2)) (then (local.set $a (call $exp2 (local.get $a)))))
          (call $store_pair (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a) (i32.sub (local.get $cols) (local.get $c)))
          (local.set $c (i32.add (local.get $c) (i32.const 2)))
          (br $w)))
        (return)))
    ;; job 10: X = y, G = g, Y = dx
    (block $g_done (loop $gs
      (br_if $g_done (i32.ge_u (local.get $c) (local.get $cols)))
      (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $g) (i32.shl (local.get $c) (i32.const 2))))))
      (if (i32.eq (local.get $mode) (i32.const 2))
        (then (local.set $v (f64.mul (local.get $v) (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2)))))))))
      (local.set $sum (f64.add (local.get $sum) (local.get $v)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $gs)))
    (local.set $c (i32.const 0))
    (block $d_done (loop $d
      (br_if $d_done (i32.ge_u (local.get $c) (local.get $cols)))
      (local.set $a (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))))
      (local.set $e (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $g) (i32.shl (local.get $c) (i32.const 2))))))
      (if (i32.eq (local.get $mode) (i32.const 1))
        (then (local.set $a (f64x2.sub (local.get $e) (f64x2.mul (call $exp2 (local.get $a)) (f64x2.splat (local.get $sum))))))
        (else (local.set $a (f64x2.mul (local.get $a) (f64x2.sub (local.get $e) (f64x2.splat (local.get $sum)))))))
      (call $store_pair (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a) (i32.sub (local.get $cols) (local.get $c)))
      (local.set $c (i32.add (local.get $c) (i32.const 2)))
      (br $d))))

  ;; Stores lane 0 of $v at $p, and lane 1 at $p + 8 when $left > 1.
  (func $store_f64_pair (param $p i32) (param $v v128) (param $left i32)
    (if (i32.gt_s (local.get $left) (i32.const 1))
      (then (v128.store (local.get $p) (local.get $v)))
      (else (f64.store (local.get $p) (f64x2.extract_lane 0 (local.get $v))))))

  ;; Stores lane 0 of $v (demoted to f32) at $p, and lane 1 at $p + 4 when $left > 1.
  (func $store_pair (param $p i32) (param $v v128) (param $left i32)
    (if (i32.gt_s (local.get $left) (i32.const 1))
      (then (v128.store64_lane 0 (local.get $p) (f32x4.demote_f64x2_zero (local.get $v))))
      (else (f32.store (local.get $p) (f32.demote_f64 (f64x2.extract_lane 0 (local.get $v)))))))

  ;; ---------------------------------------------------------------- causal conv backward
  ;; Channels [c0, c1) of job 8: the float64 arithmetic of causalConvBackwardKernel (qkv-rows.ts)
  ;; in the same order per channel (two channels per f64x2, the odd last one in lane 0), so every
  ;; output has the same bits. dw, db: zero, then for b, t: db += g_t and dw_j += g_t u_(t-k+1+j);
  ;; du_s = 0 + sum over taps j (in order) of wt_j g_(s+k-1-j), written as dhistory (s < 0), as
  ;; dx = (du S) H with the SiLU, or as dx = du.
  (func $conv_back_task (param $t i32)
    (local $B i32) (local $T i32) (local $C i32) (local $K i32) (local $P i32) (local $silu i32)
    (local $c0 i32) (local $c1 i32) (local $c i32) (local $b i32) (local $tt i32) (local $j i32) (local $s i32) (local $w i32)
    (local $gRow i32) (local $uRow i32) (local $dwRow i32) (local $row i32) (local $at i32)
    (local $g v128) (local $acc v128) (local $lanes i32)
    (local.set $B (i32.load (i32.const 68)))
    (local.set $T (i32.load (i32.const 72)))
    (local.set $C (i32.load (i32.const 76)))
    (local.set $K (i32.load (i32.const 80)))
    (local.set $P (i32.load (i32.const 84)))
    (local.set $silu (i32.load (i32.const 88)))
    (local.set $c0 (i32.mul (local.get $t) (i32.load (i32.const 92))))
    (local.set $c1 (i32.add (local.get $c0) (i32.load (i32.const 92))))
    (if (i32.gt_u (local.get $c1) (local.get $C)) (then (local.set $c1 (local.get $C))))
    ;; U (history rows, then u = act(x)), S = 1 / (1 + exp(-x)) and H = 1 + x (1 - S) of the
    ;; channels [c0, c1), in the JavaScript loop's double operations
    (local.set $b (i32.const 0))
    (block $pb_done (loop $pb
      (br_if $pb_done (i32.ge_u (local.get $b) (local.get $B)))
      (local.set $s (i32.const 0))
      (block $ps_done (loop $ps
        (br_if $ps_done (i32.ge_u (local.get $s) (i32.add (local.get $P) (local.get $T))))
        (local.set $uRow (i32.add (i32.load (i32.const 100))
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (i32.add (local.get $P) (local.get $T))) (local.get $s)) (local.get $C)) (i32.const 3))))
        (if (i32.lt_u (local.get $s) (local.get $P))
          (then (local.set $gRow (i32.add (i32.load (i32.const 136))
            (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (local.get $P)) (local.get $s)) (local.get $C)) (i32.const 2)))))
          (else
            (local.set $row (i32.mul (i32.add (i32.mul (local.get $b) (local.get $T)) (i32.sub (local.get $s) (local.get $P))) (local.get $C)))
            (local.set $gRow (i32.add (i32.load (i32.const 132)) (i32.shl (local.get $row) (i32.const 2))))))
        (local.set $c (local.get $c0))
        (block $pc_done (loop $pc
          (br_if $pc_done (i32.ge_u (local.get $c) (local.get $c1)))
          (local.set $lanes (i32.sub (local.get $c1) (local.get $c)))
          (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2))))))
          (if (i32.and (local.get $silu) (i32.ge_u (local.get $s) (local.get $P)))
            (then
              (local.set $acc (f64x2.div (v128.const f64x2 1 1) (f64x2.add (v128.const f64x2 1 1) (call $exp2 (f64x2.neg (local.get $g))))))
              (local.set $at (i32.shl (i32.add (local.get $row) (local.get $c)) (i32.const 3)))
              (call $store_f64_pair (i32.add (i32.load (i32.const 104)) (local.get $at)) (local.get $acc) (local.get $lanes))
              (call $store_f64_pair (i32.add (i32.load (i32.const 108)) (local.get $at))
                (f64x2.add (v128.const f64x2 1 1) (f64x2.mul (local.get $g) (f64x2.sub (v128.const f64x2 1 1) (local.get $acc)))) (local.get $lanes))
              (local.set $g (f64x2.mul (local.get $g) (local.get $acc)))))
          (call $store_f64_pair (i32.add (local.get $uRow) (i32.shl (local.get $c) (i32.const 3))) (local.get $g) (local.get $lanes))
          (local.set $c (i32.add (local.get $c) (i32.const 2)))
          (br $pc)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $ps)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $pb)))
    ;; zero dw[:, c0:c1] and db[c0:c1]
    (local.set $c (local.get $c0))
    (block $z_done (loop $z
      (br_if $z_done (i32.ge_u (local.get $c) (local.get $c1)))
      (f64.store (i32.add (i32.load (i32.const 120)) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
      (local.set $j (i32.const 0))
      (block $zj_done (loop $zj
        (br_if $zj_done (i32.ge_u (local.get $j) (local.get $K)))
        (f64.store (i32.add (i32.load (i32.const 116)) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $C)) (local.get $c)) (i32.const 3))) (f64.const 0))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $zj)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $z)))
    (local.set $b (i32.const 0))
    (block $b_done (loop $bl
      (br_if $b_done (i32.ge_u (local.get $b) (local.get $B)))
      ;; dweight and dbias
      (local.set $tt (i32.const 0))
      (block $t_done (loop $tl
        (br_if $t_done (i32.ge_u (local.get $tt) (local.get $T)))
        (local.set $gRow (i32.add (i32.load (i32.const 96)) (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (local.get $T)) (local.get $tt)) (local.get $C)) (i32.const 2))))
        (local.set $c (local.get $c0))
        (block $db_done (loop $dbl
          (local.set $lanes (i32.sub (local.get $c1) (local.get $c)))
          (br_if $db_done (i32.le_s (local.get $lanes) (i32.const 0)))
          (local.set $at (i32.add (i32.load (i32.const 120)) (i32.shl (local.get $c) (i32.const 3))))
          (if (i32.ge_s (local.get $lanes) (i32.const 2))
            (then
              (v128.store (local.get $at) (f64x2.add (v128.load (local.get $at))
                (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2))))))))
            (else
              (f64.store (local.get $at) (f64.add (f64.load (local.get $at))
                (f64.promote_f32 (f32.load (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2)))))))))
          (local.set $c (i32.add (local.get $c) (i32.const 2)))
          (br $dbl)))
        (local.set $j (i32.const 0))
        (block $j_done (loop $jl
          (br_if $j_done (i32.ge_u (local.get $j) (local.get $K)))
          ;; s = past + t - (k - 1) + j, a row of U of this batch
          (local.set $s (i32.add (i32.sub (i32.add (local.get $P) (local.get $tt)) (i32.sub (local.get $K) (i32.const 1))) (local.get $j)))
          (if (i32.ge_s (local.get $s) (i32.const 0))
            (then
              (local.set $uRow (i32.add (i32.load (i32.const 100))
                (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (i32.add (local.get $P) (local.get $T))) (local.get $s)) (local.get $C)) (i32.const 3))))
              (local.set $dwRow (i32.add (i32.load (i32.const 116)) (i32.shl (i32.mul (local.get $j) (local.get $C)) (i32.const 3))))
              (local.set $c (local.get $c0))
              (block $dw_done (loop $dwl
                (local.set $lanes (i32.sub (local.get $c1) (local.get $c)))
                (br_if $dw_done (i32.le_s (local.get $lanes) (i32.const 0)))
                (local.set $at (i32.add (local.get $dwRow) (i32.shl (local.get $c) (i32.const 3))))
                (if (i32.ge_s (local.get $lanes) (i32.const 2))
                  (then
                    (v128.store (local.get $at) (f64x2.add (v128.load (local.get $at))
                      (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2)))))
                                 (v128.load (i32.add (local.get $uRow) (i32.shl (local.get $c) (i32.const 3))))))))
                  (else
                    (f64.store (local.get $at) (f64.add (f64.load (local.get $at))
                      (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2)))))
                               (f64.load (i32.add (local.get $uRow) (i32.shl (local.get $c) (i32.const 3)))))))))
                (local.set $c (i32.add (local.get $c) (i32.const 2)))
                (br $dwl)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $tt (i32.add (local.get $tt) (i32.const 1)))
        (br $tl)))
      ;; du for the rows s = -past .. tokens - 1 of u: DU[c] = 0, then + wt_j g_t for the taps j in
      ;; order (t = s + k - 1 - j), tap-major so each sweep over the channels is contiguous
      (local.set $s (i32.sub (i32.const 0) (local.get $P)))
      (block $s_done (loop $sl
        (br_if $s_done (i32.ge_s (local.get $s) (local.get $T)))
        (local.set $c (local.get $c0))
        (block $z2_done (loop $z2
          (br_if $z2_done (i32.ge_u (local.get $c) (local.get $c1)))
          (f64.store (i32.add (i32.load (i32.const 140)) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $z2)))
        (local.set $j (i32.const 0))
        (block $tap_done (loop $tap
          (br_if $tap_done (i32.ge_u (local.get $j) (local.get $K)))
          (local.set $tt (i32.sub (i32.add (local.get $s) (i32.sub (local.get $K) (i32.const 1))) (local.get $j)))
          (if (i32.and (i32.ge_s (local.get $tt) (i32.const 0)) (i32.lt_s (local.get $tt) (local.get $T)))
            (then
              (local.set $gRow (i32.add (i32.load (i32.const 96))
                (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (local.get $T)) (local.get $tt)) (local.get $C)) (i32.const 2))))
              (local.set $dwRow (i32.add (i32.load (i32.const 112)) (i32.shl (i32.mul (local.get $j) (local.get $C)) (i32.const 3))))
              (local.set $c (local.get $c0))
              (block $du_done (loop $dul
                (local.set $lanes (i32.sub (local.get $c1) (local.get $c)))
                (br_if $du_done (i32.le_s (local.get $lanes) (i32.const 0)))
                (local.set $at (i32.add (i32.load (i32.const 140)) (i32.shl (local.get $c) (i32.const 3))))
                (if (i32.ge_s (local.get $lanes) (i32.const 2))
                  (then (v128.store (local.get $at) (f64x2.add (v128.load (local.get $at))
                    (f64x2.mul (v128.load (i32.add (local.get $dwRow) (i32.shl (local.get $c) (i32.const 3))))
                               (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2)))))))))
                  (else (f64.store (local.get $at) (f64.add (f64.load (local.get $at))
                    (f64.mul (f64.load (i32.add (local.get $dwRow) (i32.shl (local.get $c) (i32.const 3))))
                             (f64.promote_f32 (f32.load (i32.add (local.get $gRow) (i32.shl (local.get $c) (i32.const 2))))))))))
                (local.set $c (i32.add (local.get $c) (i32.const 2)))
                (br $dul)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $tap)))
        (local.set $c (local.get $c0))
        (block $c_done (loop $cl
          (local.set $lanes (i32.sub (local.get $c1) (local.get $c)))
          (br_if $c_done (i32.le_s (local.get $lanes) (i32.const 0)))
          ;; (an odd last channel reads one double of slack into lane 1, never stored)
          (local.set $acc (v128.load (i32.add (i32.load (i32.const 140)) (i32.shl (local.get $c) (i32.const 3)))))
          (if (i32.lt_s (local.get $s) (i32.const 0))
            (then
              ;; dhistory[b, past + s, c]
              (local.set $at (i32.add (i32.load (i32.const 128))
                (i32.shl (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $P)) (i32.add (local.get $P) (local.get $s))) (local.get $C)) (local.get $c)) (i32.const 2)))))
            (else
              (local.set $row (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $T)) (local.get $s)) (local.get $C)) (local.get $c)))
              (local.set $at (i32.add (i32.load (i32.const 124)) (i32.shl (local.get $row) (i32.const 2))))
              (if (local.get $silu)
                (then
                  (if (i32.ge_s (local.get $lanes) (i32.const 2))
                    (then (local.set $acc (f64x2.mul (f64x2.mul (local.get $acc)
                                (v128.load (i32.add (i32.load (i32.const 104)) (i32.shl (local.get $row) (i32.const 3)))))
                                (v128.load (i32.add (i32.load (i32.const 108)) (i32.shl (local.get $row) (i32.const 3)))))))
                    (else (local.set $acc (f64x2.replace_lane 0 (local.get $acc)
                            (f64.mul (f64.mul (f64x2.extract_lane 0 (local.get $acc))
                                (f64.load (i32.add (i32.load (i32.const 104)) (i32.shl (local.get $row) (i32.const 3)))))
                                (f64.load (i32.add (i32.load (i32.const 108)) (i32.shl (local.get $row) (i32.const 3)))))))))))))
          (if (i32.ge_s (local.get $lanes) (i32.const 2))
            (then (v128.store64_lane 0 (local.get $at) (f32x4.demote_f64x2_zero (local.get $acc))))
            (else (f32.store (local.get $at) (f32.demote_f64 (f64x2.extract_lane 0 (local.get $acc))))))
          (local.set $c (i32.add (local.get $c) (i32.const 2)))
          (br $cl)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $sl)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; Runs task $t of the current job.
  (func (export "task") (param $t i32)
    (local $tile i32) (local $end i32) (local $tasksA i32)
    (if (i32.eq (i32.load (i32.const 64)) (i32.const 8))
      (then (call $conv_back_task (local.get $t)) (return)))
    (if (i32.ge_u (i32.load (i32.const 64)) (i32.const 5))
      (then (call $row_task (local.get $t) (i32.load (i32.const 64))) (return)))
    (if (i32.eq (i32.load (i32.const 64)) (i32.const 4))
      (then
        (call $add_into (i32.add (i32.load (i32.const 68)) (i32.mul (local.get $t) (i32.load (i32.const 72))))
                        (i32.add (i32.load (i32.const 76)) (i32.mul (local.get $t) (i32.load (i32.const 80))))
                        (i32.load (i32.const 84)))
        (return)))
    (if (i32.eq (i32.load (i32.const 64)) (i32.const 3))
      (then
        (local.set $tile (i32.mul (local.get $t) (i32.load (i32.const 88))))
        (local.set $end (i32.add (local.get $tile) (i32.load (i32.const 88))))
        (if (i32.gt_u (local.get $end) (i32.load (i32.const 84))) (then (local.set $end (i32.load (i32.const 84)))))
        (block $done
          (loop $rows
            (br_if $done (i32.ge_u (local.get $tile) (local.get $end)))
            (call $softmax_row (local.get $tile))
            (local.set $tile (i32.add (local.get $tile) (i32.const 1)))
            (br $rows)))
        (return)))
    (if (i32.eq (i32.load (i32.const 64)) (i32.const 1))
      (then
        (local.set $tile (i32.mul (local.get $t) (i32.load (i32.const 120))))
        (local.set $end (i32.add (local.get $tile) (i32.load (i32.const 120))))
        (if (i32.gt_u (local.get $end) (i32.load (i32.const 124))) (then (local.set $end (i32.load (i32.const 124)))))
        (block $done
          (loop $tiles
            (br_if $done (i32.ge_u (local.get $tile) (local.get $end)))
            (call $gemm_task_tile (local.get $tile))
            (local.set $tile (i32.add (local.get $tile) (i32.const 1)))
            (br $tiles)))
        (return)))
    (local.set $tasksA (i32.load (i32.const 172)))
    (if (i32.lt_u (local.get $t) (local.get $tasksA))
      (then (call $pack_task (i32.const 128) (local.get $t)))
      (else (call $pack_task (i32.const 192) (i32.sub (local.get $t) (local.get $tasksA))))))
)
