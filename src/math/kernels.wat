;; SIMD kernels for src/math (WebAssembly text; `npm run wasm` assembles it into kernels-wasm.ts).
;;
;; 8-bit affine quantization, exactly as quantizeTensor's JavaScript loops compute it:
;;   q = clamp(roundTiesToEven(f64(x) · inv) + zp, qmin, qmax),  NaN → zp
;; computed as r = trunc_sat(nearest(f64(x) · inv)), r = min(max(r, qmin − zp), qmax − zp), q = r + zp,
;; which is the same value for every input (a NaN truncates to 0; ±Inf and |x·inv| ≥ 2^31 saturate
;; and are clamped) and cannot overflow in 32 bits. The stored byte is the low byte of q, which is
;; the int8 or uint8 value alike. Four elements a step: two f64x2 products per f32x4 load.
;;
;; The caller copies inputs into this module's memory and results out (src/math/wasm.ts).
(module
  (memory (export "memory") 1)

  ;; low byte of each i32 lane of $r into lanes 0..3
  (func $bytes (param $r v128) (result v128)
    (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $r) (local.get $r)))

  ;; round(x · inv) of four floats, as i32x4 (saturating)
  (func $round4 (param $x v128) (param $inv01 v128) (param $inv23 v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (i32x4.trunc_sat_f64x2_s_zero
        (f64x2.nearest (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x)) (local.get $inv01))))
      (i32x4.trunc_sat_f64x2_s_zero
        (f64x2.nearest
          (f64x2.mul
            (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))
            (local.get $inv23))))))

  ;; one element: the scalar form of the above
  (func $one (param $x f32) (param $inv f64) (param $zp i32) (param $lo i32) (param $hi i32) (result i32)
    (local $r i32)
    (local.set $r (i32.trunc_sat_f64_s (f64.nearest (f64.mul (f64.promote_f32 (local.get $x)) (local.get $inv)))))
    (local.set $r (select (local.get $lo) (local.get $r) (i32.lt_s (local.get $r) (local.get $lo))))
    (local.set $r (select (local.get $hi) (local.get $r) (i32.gt_s (local.get $r) (local.get $hi))))
    (i32.add (local.get $r) (local.get $zp)))

  ;; per tensor: n floats at $src → n bytes at $dst, one inv and zero point
  ;; ($lo, $hi = qmin − zp, qmax − zp)
  (func (export "q8s") (param $src i32) (param $dst i32) (param $n i32) (param $inv f64) (param $zp i32) (param $lo i32) (param $hi i32)
    (local $i i32) (local $n4 i32) (local $vinv v128) (local $vlo v128) (local $vhi v128) (local $vzp v128) (local $r v128)
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (local.set $vlo (i32x4.splat (local.get $lo)))
    (local.set $vhi (i32x4.splat (local.get $hi)))
    (local.set $vzp (i32x4.splat (local.get $zp)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $r
          (call $round4 (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
            (local.get $vinv) (local.get $vinv)))
        (local.set $r (i32x4.add (i32x4.min_s (i32x4.max_s (local.get $r) (local.get $vlo)) (local.get $vhi)) (local.get $vzp)))
        (v128.store32_lane align=1 0 (i32.add (local.get $dst) (local.get $i)) (call $bytes (local.get $r)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
          (call $one (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
            (local.get $inv) (local.get $zp) (local.get $lo) (local.get $hi)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; per channel on the last axis: $rows rows of $c floats; channel ch has inv f64 at $inv + 8ch
  ;; and i32 zero point, lower and upper bound at $zp, $lo, $hi + 4ch
  (func (export "q8c") (param $src i32) (param $dst i32) (param $rows i32) (param $c i32)
    (param $inv i32) (param $zp i32) (param $lo i32) (param $hi i32)
    (local $row i32) (local $ch i32) (local $c4 i32) (local $s i32) (local $d i32) (local $r v128)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $s (local.get $src))
    (local.set $d (local.get $dst))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $ch (i32.const 0))
        (block $done
          (loop $step
            (br_if $done (i32.ge_u (local.get $ch) (local.get $c4)))
            (local.set $r
              (call $round4 (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $ch) (i32.const 2))))
                (v128.load align=8 (i32.add (local.get $inv) (i32.shl (local.get $ch) (i32.const 3))))
                (v128.load offset=16 align=8 (i32.add (local.get $inv) (i32.shl (local.get $ch) (i32.const 3))))))
            (local.set $r
              (i32x4.add
                (i32x4.min_s
                  (i32x4.max_s (local.get $r) (v128.load align=4 (i32.add (local.get $lo) (i32.shl (local.get $ch) (i32.const 2)))))
                  (v128.load align=4 (i32.add (local.get $hi) (i32.shl (local.get $ch) (i32.const 2)))))
                (v128.load align=4 (i32.add (local.get $zp) (i32.shl (local.get $ch) (i32.const 2))))))
            (v128.store32_lane align=1 0 (i32.add (local.get $d) (local.get $ch)) (call $bytes (local.get $r)))
            (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
            (br $step)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $ch) (local.get $c)))
            (i32.store8 (i32.add (local.get $d) (local.get $ch))
              (call $one (f32.load (i32.add (local.get $s) (i32.shl (local.get $ch) (i32.const 2))))
                (f64.load (i32.add (local.get $inv) (i32.shl (local.get $ch) (i32.const 3))))
                (i32.load (i32.add (local.get $zp) (i32.shl (local.get $ch) (i32.const 2))))
                (i32.load (i32.add (local.get $lo) (i32.shl (local.get $ch) (i32.const 2))))
                (i32.load (i32.add (local.get $hi) (i32.shl (local.get $ch) (i32.const 2))))))
            (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
            (br $tail)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $d (i32.add (local.get $d) (local.get $c)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows_loop))))

  ;; min and max per channel on the last axis, ignoring NaN like `if (v < lo) lo = v`: $rows rows of
  ;; $c floats; the running f32 minimum and maximum of channel ch at $lo + 4ch and $hi + 4ch (the
  ;; caller starts them at +Inf and −Inf). pmin(a, b) = b < a ? b : a is that comparison exactly.
  (func (export "mmc") (param $src i32) (param $rows i32) (param $c i32) (param $lo i32) (param $hi i32)
    (local $row i32) (local $ch i32) (local $c4 i32) (local $s i32) (local $x v128) (local $p i32) (local $q i32) (local $v f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $s (local.get $src))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $ch (i32.const 0))
        (block $done
          (loop $step
            (br_if $done (i32.ge_u (local.get $ch) (local.get $c4)))
            (local.set $x (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $ch) (i32.const 2)))))
            (local.set $p (i32.add (local.get $lo) (i32.shl (local.get $ch) (i32.const 2))))
            (local.set $q (i32.add (local.get $hi) (i32.shl (local.get $ch) (i32.const 2))))
            (v128.store align=4 (local.get $p) (f32x4.pmin (v128.load align=4 (local.get $p)) (local.get $x)))
            (v128.store align=4 (local.get $q) (f32x4.pmax (v128.load align=4 (local.get $q)) (local.get $x)))
            (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
            (br $step)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $ch) (local.get $c)))
            (local.set $v (f32.load (i32.add (local.get $s) (i32.shl (local.get $ch) (i32.const 2)))))
            (local.set $p (i32.add (local.get $lo) (i32.shl (local.get $ch) (i32.const 2))))
            (local.set $q (i32.add (local.get $hi) (i32.shl (local.get $ch) (i32.const 2))))
            (if (f32.lt (local.get $v) (f32.load (local.get $p))) (then (f32.store (local.get $p) (local.get $v))))
            (if (f32.gt (local.get $v) (f32.load (local.get $q))) (then (f32.store (local.get $q) (local.get $v))))
            (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
            (br $tail)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows_loop))))

  ;; 1 when some float of n at $src is ±Inf or NaN (its exponent bits all ones), else 0
  (func (export "nonfinite") (param $src i32) (param $n i32) (result i32)
    (local $i i32) (local $n4 i32) (local $mask v128) (local $acc v128) (local $e i32)
    (local.set $mask (i32x4.splat (i32.const 0x7f800000)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $acc
          (v128.or (local.get $acc)
            (i32x4.eq
              (v128.and (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))) (local.get $mask))
              (local.get $mask))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.and (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7f800000)))
        (if (i32.eq (local.get $e) (i32.const 0x7f800000)) (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (v128.any_true (local.get $acc)))

  ;; fingerprint's four-lane hash (src/ir/fingerprint.ts laneHash) over $n4 words (a multiple of 4)
  ;; at $src, from the state at $state (four i32), written back there: lane j of the state takes
  ;; every 4th word, s ← rotl13((s ^ w) · K[j])
  (func (export "lanehash") (param $src i32) (param $n4 i32) (param $state i32)
    (local $i i32) (local $s v128) (local $k v128)
    (local.set $s (v128.load align=4 (local.get $state)))
    (local.set $k (v128.const i32x4 0x85ebca77 0xc2b2ae3d 0x27d4eb2f 0x165667b1))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $s
          (i32x4.mul (v128.xor (local.get $s) (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
            (local.get $k)))
        (local.set $s (v128.or (i32x4.shl (local.get $s) (i32.const 13)) (i32x4.shr_u (local.get $s) (i32.const 19))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (v128.store align=4 (local.get $state) (local.get $s)))

  ;; how many of n floats at $src are ±0 (bits other than the sign all zero)
  (func (export "zeros32") (param $src i32) (param $n i32) (result i32)
    (local $i i32) (local $n4 i32) (local $acc v128) (local $cnt i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        ;; a lane that is zero gives −1: subtracting it counts it
        (local.set $acc
          (i32x4.sub (local.get $acc)
            (i32x4.eq
              (v128.and (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
                (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
              (v128.const i32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (local.set $cnt
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
        (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.and (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7fffffff)))
          (then (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $cnt))

  ;; how many of n bytes at $src equal $z
;; rowsq: $n floats at $src in blocks of $bs (a row of a table, blocks along it), symmetric:
  ;; m = the value of largest |m| (first on a tie; NaN never wins), s = m / −2^(bits−1) as f32 (1
  ;; when |s| < 1e-30 or not finite) into the f32 at $scales + 4b; 8 bits: q = clamp(round(x · (1/s)),
  ;; −128, 127) + 128, one byte each; 4 bits: q = clamp(round(x / s), −8, 7) + 8, two a byte (the
  ;; first in the low nibble); round to nearest even, NaN → the zero point
  (func (export "rowsq") (param $src i32) (param $n i32) (param $bs i32) (param $bits i32) (param $scales i32) (param $dst i32)
    (local $b i32) (local $i i32) (local $p i32) (local $end i32) (local $m f32) (local $x f32) (local $s f32)
    (local $sd f64) (local $inv f64) (local $q i32) (local $lo i32) (local $o i32)
    (local.set $lo (select (i32.const -128) (i32.const -8) (i32.eq (local.get $bits) (i32.const 8))))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $end (i32.add (local.get $p) (local.get $bs)))
        (local.set $m (f32.const 0))
        (local.set $i (local.get $p))
        (block $ext_done
          (loop $ext
            (br_if $ext_done (i32.ge_u (local.get $i) (local.get $end)))
            (local.set $x (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
            (if (f32.gt (f32.abs (local.get $x)) (f32.abs (local.get $m))) (then (local.set $m (local.get $x))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $ext)))
        (local.set $s (f32.div (local.get $m) (f32.convert_i32_s (local.get $lo))))
        (if (i32.eqz
              (i32.and
                (f64.ge (f64.promote_f32 (f32.abs (local.get $s))) (f64.const 1e-30))
                (f32.lt (f32.abs (local.get $s)) (f32.const inf))))
          (then (local.set $s (f32.const 1))))
        (f32.store (i32.add (local.get $scales) (i32.shl (local.get $b) (i32.const 2))) (local.get $s))
        (local.set $sd (f64.promote_f32 (local.get $s)))
        (local.set $inv (f64.div (f64.const 1) (local.get $sd)))
        (local.set $i (local.get $p))
        (if (i32.eq (local.get $bits) (i32.const 8))
          (then
            (block $q8_done
              (loop $q8
                (br_if $q8_done (i32.ge_u (local.get $i) (local.get $end)))
                (local.set $q
                  (i32.trunc_sat_f64_s
                    (f64.nearest (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))) (local.get $inv)))))
                (local.set $q (select (i32.const -128) (local.get $q) (i32.lt_s (local.get $q) (i32.const -128))))
                (local.set $q (select (i32.const 127) (local.get $q) (i32.gt_s (local.get $q) (i32.const 127))))
                (i32.store8 (i32.add (local.get $dst) (local.get $i)) (i32.add (local.get $q) (i32.const 128)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $q8))))
          (else
            ;; two values a byte: x[i] in the low nibble, x[i + 1] in the high one
            (block $q4_done
              (loop $q4
                (br_if $q4_done (i32.ge_u (local.get $i) (local.get $end)))
                (local.set $q
                  (i32.trunc_sat_f64_s
                    (f64.nearest (f64.div (f64.promote_f32 (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))) (local.get $sd)))))
                (local.set $q (select (i32.const -8) (local.get $q) (i32.lt_s (local.get $q) (i32.const -8))))
                (local.set $q (select (i32.const 7) (local.get $q) (i32.gt_s (local.get $q) (i32.const 7))))
                (local.set $o
                  (i32.trunc_sat_f64_s
                    (f64.nearest
                      (f64.div (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))) (local.get $sd)))))
                (local.set $o (select (i32.const -8) (local.get $o) (i32.lt_s (local.get $o) (i32.const -8))))
                (local.set $o (select (i32.const 7) (local.get $o) (i32.gt_s (local.get $o) (i32.const 7))))
                (i32.store8 (i32.add (local.get $dst) (i32.shr_u (local.get $i) (i32.const 1)))
                  (i32.or (i32.add (local.get $q) (i32.const 8)) (i32.shl (i32.add (local.get $o) (i32.const 8)) (i32.const 4))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $q4)))))
        (local.set $p (local.get $end))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocks))))

  ;; tr8: the transpose of $rows rows of $N bytes at $src ([rows, N]) into [N, rows] at $dst
  (func (export "tr8") (param $src i32) (param $rows i32) (param $N i32) (param $dst i32)
    (local $n i32) (local $r i32) (local $s i32) (local $d i32)
    (local.set $d (local.get $dst))
    (block $cols_done
      (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $n) (local.get $N)))
        (local.set $s (i32.add (local.get $src) (local.get $n)))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $rows_loop
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
            (i32.store8 (local.get $d) (i32.load8_u (local.get $s)))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (local.set $s (i32.add (local.get $s) (local.get $N)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows_loop)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $cols))))

    (func (export "eq8") (param $src i32) (param $n i32) (param $z i32) (result i32)
    (local $i i32) (local $n16 i32) (local $acc v128) (local $vz v128) (local $cnt i32)
    (local.set $vz (i8x16.splat (local.get $z)))
    (local.set $n16 (i32.and (local.get $n) (i32.const -16)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n16)))
        ;; 1 per equal byte, summed pairwise into four 32-bit lanes
        (local.set $acc
          (i32x4.add (local.get $acc)
            (i32x4.extadd_pairwise_i16x8_u
              (i16x8.extadd_pairwise_i8x16_u
                (v128.and (i8x16.eq (v128.load align=1 (i32.add (local.get $src) (local.get $i))) (local.get $vz))
                  (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $step)))
    (local.set $cnt
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
        (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (i32.load8_u (i32.add (local.get $src) (local.get $i))) (i32.and (local.get $z) (i32.const 0xff)))
          (then (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $cnt))

  ;; float32 → float16 bits of four floats (src/math/float16.ts floatToHalf, lane by lane):
  ;; a = |x| bits; normal halves (2^-14 ≤ |x| < 65536) rebias and round to nearest even on the bits,
  ;; subnormal halves and zeros are round(|x| · 2^24) (exact scaling, then ties to even), from 65536
  ;; up Inf, NaN keeps its top mantissa bits with the quiet bit set; the sign is or-ed back
  (func $half4 (param $x v128) (result v128)
    (local $a v128) (local $m v128) (local $hn v128) (local $hs v128) (local $hx v128) (local $h v128)
    (local.set $a (v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
    (local.set $m (i32x4.sub (local.get $a) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)))
    (local.set $hn
      (i32x4.shr_u
        (i32x4.add (i32x4.add (local.get $m) (v128.const i32x4 0xfff 0xfff 0xfff 0xfff))
          (v128.and (i32x4.shr_u (local.get $m) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
        (i32.const 13)))
    (local.set $hs
      (i32x4.trunc_sat_f32x4_s
        (f32x4.nearest (f32x4.mul (local.get $a) (v128.const f32x4 16777216 16777216 16777216 16777216)))))
    (local.set $hx
      (v128.bitselect
        (v128.or (v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00)
          (i32x4.shr_u (v128.and (local.get $a) (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff)) (i32.const 13)))
        (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)
        (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
    (local.set $h
      (v128.bitselect (local.get $hs) (local.get $hn)
        (i32x4.lt_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
    (local.set $h
      (v128.bitselect (local.get $hx) (local.get $h)
        (i32x4.ge_s (local.get $a) (v128.const i32x4 0x47800000 0x47800000 0x47800000 0x47800000))))
    (v128.or (local.get $h)
      (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))

  ;; n floats at $src → n float16 bit patterns at $dst
  (func (export "half") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $n4 i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (v128.store64_lane align=2 0 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (i8x16.shuffle 0 1 4 5 8 9 12 13 0 1 4 5 8 9 12 13
            (call $half4 (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
            (v128.const i32x4 0 0 0 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (v128.store16_lane align=2 0 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (call $half4 (v128.load32_zero align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; 4-bit blocks (src/math/quant.ts quantizeInt4Blocks), one block row at a time.
  ;; absext: per column n of $rows rows of $N floats, the value of largest magnitude (first one on a
  ;; tie; NaN never wins), into the f32 at $ext + 4n (the caller starts them at 0)
  (func (export "absext") (param $src i32) (param $rows i32) (param $N i32) (param $ext i32)
    (local $row i32) (local $n i32) (local $n4 i32) (local $s i32) (local $v v128) (local $e v128) (local $p i32)
    (local $x f32)
    (local.set $n4 (i32.and (local.get $N) (i32.const -4)))
    (local.set $s (local.get $src))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $n (i32.const 0))
        (block $done
          (loop $step
            (br_if $done (i32.ge_u (local.get $n) (local.get $n4)))
            (local.set $p (i32.add (local.get $ext) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $v (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2)))))
            (local.set $e (v128.load align=4 (local.get $p)))
            (v128.store align=4 (local.get $p)
              (v128.bitselect (local.get $v) (local.get $e) (f32x4.gt (f32x4.abs (local.get $v)) (f32x4.abs (local.get $e)))))
            (local.set $n (i32.add (local.get $n) (i32.const 4)))
            (br $step)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $n) (local.get $N)))
            (local.set $p (i32.add (local.get $ext) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $x (f32.load (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2)))))
            (if (f32.gt (f32.abs (local.get $x)) (f32.abs (f32.load (local.get $p))))
              (then (f32.store (local.get $p) (local.get $x))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $tail)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $N) (i32.const 2))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $rows_loop))))

  ;; q of four columns of one row: clamp(round(x / s) + z, 0, 15), NaN → z (s f64 at $sc + 8n; z,
  ;; −z and 15 − z as i32 at $z, $zlo, $zhi + 4n), as i32x4
  (func $q4 (param $x v128) (param $sc i32) (param $z i32) (param $zlo i32) (param $zhi i32) (param $n i32) (result v128)
    (local $r v128) (local $o8 i32) (local $o4 i32)
    (local.set $o8 (i32.shl (local.get $n) (i32.const 3)))
    (local.set $o4 (i32.shl (local.get $n) (i32.const 2)))
    (local.set $r
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (i32x4.trunc_sat_f64x2_s_zero
          (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (local.get $x)) (v128.load align=8 (i32.add (local.get $sc) (local.get $o8))))))
        (i32x4.trunc_sat_f64x2_s_zero
          (f64x2.nearest
            (f64x2.div
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))
              (v128.load offset=16 align=8 (i32.add (local.get $sc) (local.get $o8))))))))
    (i32x4.add
      (i32x4.min_s (i32x4.max_s (local.get $r) (v128.load align=4 (i32.add (local.get $zlo) (local.get $o4))))
        (v128.load align=4 (i32.add (local.get $zhi) (local.get $o4))))
      (v128.load align=4 (i32.add (local.get $z) (local.get $o4)))))

  ;; the scalar form, one column
  (func $q4one (param $x f32) (param $sc i32) (param $z i32) (param $zlo i32) (param $zhi i32) (param $n i32) (result i32)
    (local $r i32) (local $lo i32) (local $hi i32)
    (local.set $lo (i32.load (i32.add (local.get $zlo) (i32.shl (local.get $n) (i32.const 2)))))
    (local.set $hi (i32.load (i32.add (local.get $zhi) (i32.shl (local.get $n) (i32.const 2)))))
    (local.set $r
      (i32.trunc_sat_f64_s
        (f64.nearest (f64.div (f64.promote_f32 (local.get $x)) (f64.load (i32.add (local.get $sc) (i32.shl (local.get $n) (i32.const 3))))))))
    (local.set $r (select (local.get $lo) (local.get $r) (i32.lt_s (local.get $r) (local.get $lo))))
    (local.set $r (select (local.get $hi) (local.get $r) (i32.gt_s (local.get $r) (local.get $hi))))
    (i32.add (local.get $r) (i32.load (i32.add (local.get $z) (i32.shl (local.get $n) (i32.const 2))))))

  ;; q4pack: a block row of $len rows (of $bs; rows past $len are zeros, which give z) → $bs / 2 rows
  ;; of $N bytes at $out, row j column n = q(row 2j) | q(row 2j + 1) << 4
  (func (export "q4pack") (param $src i32) (param $len i32) (param $bs i32) (param $N i32)
    (param $sc i32) (param $z i32) (param $zlo i32) (param $zhi i32) (param $out i32)
    (local $r i32) (local $n i32) (local $n4 i32) (local $s0 i32) (local $s1 i32) (local $o i32)
    (local $a v128) (local $b v128) (local $qa i32) (local $qb i32)
    (local.set $n4 (i32.and (local.get $N) (i32.const -4)))
    (local.set $o (local.get $out))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $bs)))
        (local.set $s0 (i32.add (local.get $src) (i32.mul (local.get $r) (i32.shl (local.get $N) (i32.const 2)))))
        (local.set $s1 (i32.add (local.get $s0) (i32.shl (local.get $N) (i32.const 2))))
        (local.set $n (i32.const 0))
        (block $done
          (loop $step
            (br_if $done (i32.ge_u (local.get $n) (local.get $n4)))
            (local.set $a
              (if (result v128) (i32.lt_u (local.get $r) (local.get $len))
                (then (call $q4 (v128.load align=4 (i32.add (local.get $s0) (i32.shl (local.get $n) (i32.const 2))))
                  (local.get $sc) (local.get $z) (local.get $zlo) (local.get $zhi) (local.get $n)))
                (else (v128.load align=4 (i32.add (local.get $z) (i32.shl (local.get $n) (i32.const 2)))))))
            (local.set $b
              (if (result v128) (i32.lt_u (i32.add (local.get $r) (i32.const 1)) (local.get $len))
                (then (call $q4 (v128.load align=4 (i32.add (local.get $s1) (i32.shl (local.get $n) (i32.const 2))))
                  (local.get $sc) (local.get $z) (local.get $zlo) (local.get $zhi) (local.get $n)))
                (else (v128.load align=4 (i32.add (local.get $z) (i32.shl (local.get $n) (i32.const 2)))))))
            (v128.store32_lane align=1 0 (i32.add (local.get $o) (local.get $n))
              (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0
                (v128.or (local.get $a) (i32x4.shl (local.get $b) (i32.const 4))) (local.get $a)))
            (local.set $n (i32.add (local.get $n) (i32.const 4)))
            (br $step)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $n) (local.get $N)))
            (local.set $qa
              (if (result i32) (i32.lt_u (local.get $r) (local.get $len))
                (then (call $q4one (f32.load (i32.add (local.get $s0) (i32.shl (local.get $n) (i32.const 2))))
                  (local.get $sc) (local.get $z) (local.get $zlo) (local.get $zhi) (local.get $n)))
                (else (i32.load (i32.add (local.get $z) (i32.shl (local.get $n) (i32.const 2)))))))
            (local.set $qb
              (if (result i32) (i32.lt_u (i32.add (local.get $r) (i32.const 1)) (local.get $len))
                (then (call $q4one (f32.load (i32.add (local.get $s1) (i32.shl (local.get $n) (i32.const 2))))
                  (local.get $sc) (local.get $z) (local.get $zlo) (local.get $zhi) (local.get $n)))
                (else (i32.load (i32.add (local.get $z) (i32.shl (local.get $n) (i32.const 2)))))))
            (i32.store8 (i32.add (local.get $o) (local.get $n)) (i32.or (local.get $qa) (i32.shl (local.get $qb) (i32.const 4))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $tail)))
        (local.set $o (i32.add (local.get $o) (local.get $N)))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $rows_loop))))

  ;; how many of n 16-bit floats (float16 or bfloat16) at $src are ±0
  (func (export "zeros16") (param $src i32) (param $n i32) (result i32)
    (local $i i32) (local $n8 i32) (local $acc v128) (local $cnt i32)
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n8)))
        ;; −1 per zero lane, widened pairwise into four 32-bit lanes and subtracted
        (local.set $acc
          (i32x4.sub (local.get $acc)
            (i32x4.extadd_pairwise_i16x8_s
              (i16x8.eq
                (v128.and (v128.load align=2 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1))))
                  (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff))
                (v128.const i16x8 0 0 0 0 0 0 0 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $step)))
    (local.set $cnt
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
        (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.and (i32.load16_u (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))) (i32.const 0x7fff)))
          (then (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $cnt))

  ;; 1 when some float of n at $src is finite with |x| > 65504 (bits of |x| in (0x477fe000, 0x7f800000))
  (func (export "beyondhalf") (param $src i32) (param $n i32) (result i32)
    (local $i i32) (local $n4 i32) (local $a v128) (local $acc v128) (local $b i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $a
          (v128.and (v128.load align=4 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
            (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $acc
          (v128.or (local.get $acc)
            (v128.and (i32x4.gt_s (local.get $a) (v128.const i32x4 0x477fe000 0x477fe000 0x477fe000 0x477fe000))
              (i32x4.lt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $b (i32.and (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7fffffff)))
        (if (i32.and (i32.gt_s (local.get $b) (i32.const 0x477fe000)) (i32.lt_s (local.get $b) (i32.const 0x7f800000)))
          (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (v128.any_true (local.get $acc)))
)
