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

  ;; ---------------------------------------------------------------------------------------------
  ;; MatMulNBits blocks on a transposed weight (src/math/blockquant.ts packBlocks): W [K, N] is
  ;; copied a band of rows at a time and transposed (trf), so that each column's blocks are
  ;; contiguous; colq then writes each column's scales and codes straight into the MatMulNBits
  ;; layout [N, kBlocks, blob], and colerr sums the 4-bit error per row of W on sampled columns.
  ;; ---------------------------------------------------------------------------------------------

  ;; trf: the transpose of $rows rows of $N floats at $src ([rows, N]) into [N, rows] at $dst, in
  ;; 4 × 4 tiles (four columns at a time, down the rows)
  (func (export "trf") (param $src i32) (param $rows i32) (param $N i32) (param $dst i32)
    (local $n i32) (local $r i32) (local $n4 i32) (local $r4 i32) (local $rs i32) (local $ds i32)
    (local $s i32) (local $d i32) (local $a v128) (local $b v128) (local $c v128) (local $e v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $n4 (i32.and (local.get $N) (i32.const -4)))
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $rs (i32.shl (local.get $N) (i32.const 2)))
    (local.set $ds (i32.shl (local.get $rows) (i32.const 2)))
    (block $cols_done
      (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $n) (local.get $n4)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $n) (local.get $ds))))
        (local.set $r (i32.const 0))
        (block $tiles_done
          (loop $tiles
            (br_if $tiles_done (i32.ge_u (local.get $r) (local.get $r4)))
            (local.set $a (v128.load align=4 (local.get $s)))
            (local.set $b (v128.load align=4 (i32.add (local.get $s) (local.get $rs))))
            (local.set $c (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $rs) (i32.const 1)))))
            (local.set $e (v128.load align=4 (i32.add (local.get $s) (i32.mul (local.get $rs) (i32.const 3)))))
            ;; a0 b0 a1 b1 | a2 b2 a3 b3 | c0 e0 c1 e1 | c2 e2 c3 e3
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $e)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $e)))
            (v128.store align=4 (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store align=4 (i32.add (local.get $d) (local.get $ds))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store align=4 (i32.add (local.get $d) (i32.shl (local.get $ds) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store align=4 (i32.add (local.get $d) (i32.mul (local.get $ds) (i32.const 3)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $s (i32.add (local.get $s) (i32.shl (local.get $rs) (i32.const 2))))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $tiles)))
        ;; the last rows (fewer than four), one at a time
        (block $rows_done
          (loop $rows_loop
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
            (f32.store (local.get $d) (f32.load (local.get $s)))
            (f32.store (i32.add (local.get $d) (local.get $ds)) (f32.load offset=4 (local.get $s)))
            (f32.store (i32.add (local.get $d) (i32.shl (local.get $ds) (i32.const 1))) (f32.load offset=8 (local.get $s)))
            (f32.store (i32.add (local.get $d) (i32.mul (local.get $ds) (i32.const 3))) (f32.load offset=12 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $rs)))
            (local.set $d (i32.add (local.get $d) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows_loop)))
        (local.set $n (i32.add (local.get $n) (i32.const 4)))
        (br $cols)))
    ;; the last columns (fewer than four), one value at a time
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $n) (local.get $N)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $n) (local.get $ds))))
        (local.set $r (i32.const 0))
        (block $col_done
          (loop $col
            (br_if $col_done (i32.ge_u (local.get $r) (local.get $rows)))
            (f32.store (local.get $d) (f32.load (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $rs)))
            (local.set $d (i32.add (local.get $d) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $col)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $tail))))

  ;; the value of largest magnitude among $bs floats at $p (the first one on a tie; NaN never wins;
  ;; 0 when none): four lanes, each with its largest |x| and the index of its first one, then the
  ;; lanes (the least index among those with the largest |x|) and the last values
  (func $extreme (param $p i32) (param $bs i32) (result f32)
    (local $i i32) (local $bs4 i32) (local $ax v128) (local $best v128) (local $bi v128) (local $idx v128) (local $gt v128)
    (local $t v128) (local $m f32) (local $v f32)
    (local.set $bs4 (i32.and (local.get $bs) (i32.const -4)))
    (local.set $bi (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
    (local.set $idx (v128.const i32x4 0 1 2 3))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bs4)))
        (local.set $ax
          (v128.and (v128.load align=4 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
            (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
        (local.set $gt (f32x4.gt (local.get $ax) (local.get $best)))
        ;; pmax(best, ax) = best < ax ? ax : best: the same test as $gt
        (local.set $best (f32x4.pmax (local.get $best) (local.get $ax)))
        (local.set $bi (v128.bitselect (local.get $idx) (local.get $bi) (local.get $gt)))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 4 4 4 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    ;; the largest |x| in every lane, then the least index of the lanes that hold it
    (local.set $t (f32x4.pmax (local.get $best) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $best) (local.get $best))))
    (local.set $t (f32x4.pmax (local.get $t) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $t) (local.get $t))))
    (local.set $bi
      (v128.bitselect (local.get $bi) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)
        (f32x4.eq (local.get $best) (local.get $t))))
    (local.set $bi (i32x4.min_s (local.get $bi) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $bi) (local.get $bi))))
    (local.set $bi (i32x4.min_s (local.get $bi) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $bi) (local.get $bi))))
    (if (f32.gt (f32x4.extract_lane 0 (local.get $t)) (f32.const 0))
      (then
        (local.set $m
          (f32.load (i32.add (local.get $p) (i32.shl (i32x4.extract_lane 0 (local.get $bi)) (i32.const 2)))))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bs)))
        (local.set $v (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.gt (f32.abs (local.get $v)) (f32.abs (local.get $m))) (then (local.set $m (local.get $v))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $m))

  ;; the asymmetric 4-bit scale of $bs floats at $p (quant.ts computeScaleZp on [min(lo, 0),
  ;; max(hi, 0)], NaN ignored, an infinite end taken as ∓3.4e38): s = (hi − lo) / 15 in float64,
  ;; z = clamp(round(−lo / s), 0, 15) stored as the byte at $zp; returns s as float32
  ;; (s = 1, z = 0 when s < 1e-30)
  (func $range (param $p i32) (param $bs i32) (param $zp i32) (result f32)
    (local $i i32) (local $bs4 i32) (local $x v128) (local $lo4 v128) (local $hi4 v128)
    (local $lo f32) (local $hi f32) (local $v f32) (local $l f64) (local $h f64) (local $s f64) (local $z i32)
    (local.set $bs4 (i32.and (local.get $bs) (i32.const -4)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bs4)))
        (local.set $x (v128.load align=4 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $lo4 (f32x4.pmin (local.get $lo4) (local.get $x)))
        (local.set $hi4 (f32x4.pmax (local.get $hi4) (local.get $x)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (local.set $lo (f32x4.extract_lane 0 (local.get $lo4)))
    (local.set $hi (f32x4.extract_lane 0 (local.get $hi4)))
    (local.set $v (f32x4.extract_lane 1 (local.get $lo4)))
    (if (f32.lt (local.get $v) (local.get $lo)) (then (local.set $lo (local.get $v))))
    (local.set $v (f32x4.extract_lane 2 (local.get $lo4)))
    (if (f32.lt (local.get $v) (local.get $lo)) (then (local.set $lo (local.get $v))))
    (local.set $v (f32x4.extract_lane 3 (local.get $lo4)))
    (if (f32.lt (local.get $v) (local.get $lo)) (then (local.set $lo (local.get $v))))
    (local.set $v (f32x4.extract_lane 1 (local.get $hi4)))
    (if (f32.gt (local.get $v) (local.get $hi)) (then (local.set $hi (local.get $v))))
    (local.set $v (f32x4.extract_lane 2 (local.get $hi4)))
    (if (f32.gt (local.get $v) (local.get $hi)) (then (local.set $hi (local.get $v))))
    (local.set $v (f32x4.extract_lane 3 (local.get $hi4)))
    (if (f32.gt (local.get $v) (local.get $hi)) (then (local.set $hi (local.get $v))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bs)))
        (local.set $v (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.lt (local.get $v) (local.get $lo)) (then (local.set $lo (local.get $v))))
        (if (f32.gt (local.get $v) (local.get $hi)) (then (local.set $hi (local.get $v))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.set $l (f64.promote_f32 (local.get $lo)))
    (local.set $h (f64.promote_f32 (local.get $hi)))
    (if (f64.eq (local.get $l) (f64.const -inf)) (then (local.set $l (f64.const -3.4e38))))
    (if (f64.eq (local.get $h) (f64.const inf)) (then (local.set $h (f64.const 3.4e38))))
    (local.set $s (f64.div (f64.sub (local.get $h) (local.get $l)) (f64.const 15)))
    (if (i32.eqz (i32.and (f64.ge (local.get $s) (f64.const 1e-30)) (f64.lt (local.get $s) (f64.const inf))))
      (then
        (i32.store8 (local.get $zp) (i32.const 0))
        (return (f32.const 1))))
    (local.set $z (i32.trunc_sat_f64_s (f64.nearest (f64.sub (f64.const 0) (f64.div (local.get $l) (local.get $s))))))
    (local.set $z (select (i32.const 0) (local.get $z) (i32.lt_s (local.get $z) (i32.const 0))))
    (local.set $z (select (i32.const 15) (local.get $z) (i32.gt_s (local.get $z) (i32.const 15))))
    (i32.store8 (local.get $zp) (local.get $z))
    (f32.demote_f64 (local.get $s)))

  ;; one 4-bit code: clamp(round(x / s) + z, 0, 15), NaN → z
  (func $code4 (param $x f32) (param $s f64) (param $z i32) (result i32)
    (local $r i32)
    (local.set $r (i32.trunc_sat_f64_s (f64.nearest (f64.div (f64.promote_f32 (local.get $x)) (local.get $s)))))
    (local.set $r (select (i32.sub (i32.const 0) (local.get $z)) (local.get $r) (i32.lt_s (local.get $r) (i32.sub (i32.const 0) (local.get $z)))))
    (local.set $r (select (i32.sub (i32.const 15) (local.get $z)) (local.get $r) (i32.gt_s (local.get $r) (i32.sub (i32.const 15) (local.get $z)))))
    (i32.add (local.get $r) (local.get $z)))

  ;; the 4-bit codes of $bs floats at $p, two a byte (the first in the low nibble), at $out: eight
  ;; at a time, narrowed to 16 bits with saturation (which keeps every clamp the same), then pairs
  ;; of 16-bit lanes folded into one byte
  (func $codes4 (param $p i32) (param $bs i32) (param $s f64) (param $z i32) (param $out i32)
    (local $i i32) (local $bs8 i32) (local $vs v128) (local $vz v128) (local $h v128) (local $a i32) (local $x0 v128) (local $x1 v128)
    (local.set $bs8 (i32.and (local.get $bs) (i32.const -8)))
    (local.set $vs (f64x2.splat (local.get $s)))
    (local.set $vz (i16x8.splat (local.get $z)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bs8)))
        (local.set $a (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $x0 (v128.load align=4 (local.get $a)))
        (local.set $x1 (v128.load offset=16 align=4 (local.get $a)))
        (local.set $h
          (i16x8.narrow_i32x4_s
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (i32x4.trunc_sat_f64x2_s_zero (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (local.get $x0)) (local.get $vs))))
              (i32x4.trunc_sat_f64x2_s_zero
                (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x0) (local.get $x0))) (local.get $vs)))))
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (i32x4.trunc_sat_f64x2_s_zero (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (local.get $x1)) (local.get $vs))))
              (i32x4.trunc_sat_f64x2_s_zero
                (f64x2.nearest (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x1) (local.get $x1))) (local.get $vs)))))))
        (local.set $h
          (i16x8.min_s (i16x8.max_s (i16x8.add_sat_s (local.get $h) (local.get $vz)) (v128.const i16x8 0 0 0 0 0 0 0 0))
            (v128.const i16x8 15 15 15 15 15 15 15 15)))
        ;; 32-bit lane j = q(2j) | q(2j + 1) << 16 → q(2j) | q(2j + 1) << 4
        (local.set $h
          (v128.or (v128.and (local.get $h) (v128.const i32x4 0xf 0xf 0xf 0xf))
            (v128.and (i32x4.shr_u (local.get $h) (i32.const 12)) (v128.const i32x4 0xf0 0xf0 0xf0 0xf0))))
        (v128.store32_lane align=1 0 (i32.add (local.get $out) (i32.shr_u (local.get $i) (i32.const 1)))
          (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $h) (local.get $h)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bs)))
        (local.set $a (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
        (i32.store8 (i32.add (local.get $out) (i32.shr_u (local.get $i) (i32.const 1)))
          (i32.or (call $code4 (f32.load (local.get $a)) (local.get $s) (local.get $z))
            (i32.shl (call $code4 (f32.load offset=4 (local.get $a)) (local.get $s) (local.get $z)) (i32.const 4))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $tail))))

  ;; the 8-bit codes of $bs floats at $p at $out: clamp(round(x · inv), −128, 127) + 128, NaN → 128;
  ;; eight at a time, narrowed with saturation to 16 then 8 bits (the clamp), + 128 as a flip of the
  ;; top bit
  (func $codes8 (param $p i32) (param $bs i32) (param $inv f64) (param $out i32)
    (local $i i32) (local $bs8 i32) (local $vi v128) (local $a i32) (local $x0 v128) (local $x1 v128)
    (local.set $bs8 (i32.and (local.get $bs) (i32.const -8)))
    (local.set $vi (f64x2.splat (local.get $inv)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bs8)))
        (local.set $a (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $x0 (v128.load align=4 (local.get $a)))
        (local.set $x1 (v128.load offset=16 align=4 (local.get $a)))
        (v128.store64_lane align=1 0 (i32.add (local.get $out) (local.get $i))
          (v128.xor
            (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (i32x4.trunc_sat_f64x2_s_zero (f64x2.nearest (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x0)) (local.get $vi))))
              (i32x4.trunc_sat_f64x2_s_zero
                (f64x2.nearest (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x0) (local.get $x0))) (local.get $vi)))))
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (i32x4.trunc_sat_f64x2_s_zero (f64x2.nearest (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x1)) (local.get $vi))))
              (i32x4.trunc_sat_f64x2_s_zero
                (f64x2.nearest (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x1) (local.get $x1))) (local.get $vi))))))
              (v128.const i32x4 0 0 0 0))
            (v128.const i8x16 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $step)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $bs)))
        (i32.store8 (i32.add (local.get $out) (local.get $i))
          (call $one (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
            (local.get $inv) (i32.const 128) (i32.const -128) (i32.const 127)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; colq: $rows rows at $src of $nb blocks of $bs floats each (a transposed band of W, or a table's
  ;; rows); $mode 0: 4-bit symmetric (s = m / −8 with m the value of largest |m|, z = 8), 1: 4-bit
  ;; asymmetric ($range), 2: 8-bit symmetric (s = m / −128, z = 128), 3: both 0 and 2 from one m
  ;; (the 8-bit blocks at $scales8 and $dst8, row stride $ds8); a symmetric s is float32 and 1 when
  ;; |s| < 1e-30 or not finite. Row n's block b: the f32 scale at $scales + 4(n·$ss + b), the zero
  ;; point byte at $zps + n·$ss + b (mode 1), the codes at $dst + n·$ds + b·blob (blob = bs / 2, or
  ;; bs at 8 bits). 4-bit codes are round(x / s) + z, 8-bit ones round(x · (1 / s)) + 128.
  (func (export "colq") (param $src i32) (param $rows i32) (param $nb i32) (param $bs i32) (param $mode i32)
    (param $scales i32) (param $ss i32) (param $zps i32) (param $dst i32) (param $ds i32)
    (param $scales8 i32) (param $dst8 i32) (param $ds8 i32)
    (local $n i32) (local $b i32) (local $p i32) (local $blob i32) (local $s f32) (local $z i32) (local $m f32)
    (local $sp i32) (local $zp i32) (local $op i32) (local $sp8 i32) (local $op8 i32)
    (local.set $blob (select (local.get $bs) (i32.shr_u (local.get $bs) (i32.const 1)) (i32.eq (local.get $mode) (i32.const 2))))
    (local.set $p (local.get $src))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $n) (local.get $rows)))
        (local.set $sp (i32.add (local.get $scales) (i32.shl (i32.mul (local.get $n) (local.get $ss)) (i32.const 2))))
        (local.set $zp (i32.add (local.get $zps) (i32.mul (local.get $n) (local.get $ss))))
        (local.set $op (i32.add (local.get $dst) (i32.mul (local.get $n) (local.get $ds))))
        (local.set $sp8 (i32.add (local.get $scales8) (i32.shl (i32.mul (local.get $n) (local.get $ss)) (i32.const 2))))
        (local.set $op8 (i32.add (local.get $dst8) (i32.mul (local.get $n) (local.get $ds8))))
        (local.set $b (i32.const 0))
        (block $blocks_done
          (loop $blocks
            (br_if $blocks_done (i32.ge_u (local.get $b) (local.get $nb)))
            (if (i32.eq (local.get $mode) (i32.const 1))
              (then
                (local.set $s (call $range (local.get $p) (local.get $bs) (i32.add (local.get $zp) (local.get $b))))
                (local.set $z (i32.load8_u (i32.add (local.get $zp) (local.get $b)))))
              (else
                (local.set $m (call $extreme (local.get $p) (local.get $bs)))
                ;; the symmetric scale m / low as float32, 1 when |s| < 1e-30 or not finite
                (local.set $s (f32.div (local.get $m) (select (f32.const -128) (f32.const -8) (i32.eq (local.get $mode) (i32.const 2)))))
                (local.set $s
                  (select (local.get $s) (f32.const 1)
                    (i32.and (f64.ge (f64.promote_f32 (f32.abs (local.get $s))) (f64.const 1e-30)) (f32.lt (f32.abs (local.get $s)) (f32.const inf)))))
                (local.set $z (i32.const 8))))
            (f32.store (i32.add (local.get $sp) (i32.shl (local.get $b) (i32.const 2))) (local.get $s))
            (if (i32.eq (local.get $mode) (i32.const 2))
              (then
                (call $codes8 (local.get $p) (local.get $bs) (f64.div (f64.const 1) (f64.promote_f32 (local.get $s)))
                  (i32.add (local.get $op) (i32.mul (local.get $b) (local.get $blob)))))
              (else
                (call $codes4 (local.get $p) (local.get $bs) (f64.promote_f32 (local.get $s)) (local.get $z)
                  (i32.add (local.get $op) (i32.mul (local.get $b) (local.get $blob))))))
            (if (i32.eq (local.get $mode) (i32.const 3))
              (then
                (local.set $s (f32.div (local.get $m) (f32.const -128)))
                (local.set $s
                  (select (local.get $s) (f32.const 1)
                    (i32.and (f64.ge (f64.promote_f32 (f32.abs (local.get $s))) (f64.const 1e-30)) (f32.lt (f32.abs (local.get $s)) (f32.const inf)))))
                (f32.store (i32.add (local.get $sp8) (i32.shl (local.get $b) (i32.const 2))) (local.get $s))
                (call $codes8 (local.get $p) (local.get $bs) (f64.div (f64.const 1) (f64.promote_f32 (local.get $s)))
                  (i32.add (local.get $op8) (i32.mul (local.get $b) (local.get $bs))))))
            (local.set $p (i32.add (local.get $p) (i32.shl (local.get $bs) (i32.const 2))))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $blocks)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $rows_loop))))

  ;; colerr: after colq (4-bit) on a transposed band ($rows columns of W, each $nb blocks of $bs,
  ;; the first $len values real), for the columns n = 0, $step, 2·$step, …: err[i] += d², e2[i] += v²
  ;; (float64 at $err + 8i, $e2 + 8i), v = x if finite else 0, d = v − s·(q − z) (z = 8 unless
  ;; $mode is 1); the columns in order, so each row's sums add in the order of int4RowErrors. Two
  ;; rows at a time (the two codes of a byte), the same float64 operations in each lane.
  (func (export "colerr") (param $src i32) (param $rows i32) (param $nb i32) (param $bs i32) (param $len i32) (param $step i32)
    (param $mode i32) (param $scales i32) (param $ss i32) (param $zps i32) (param $dst i32) (param $ds i32)
    (param $err i32) (param $e2 i32)
    (local $n i32) (local $b i32) (local $j i32) (local $i i32) (local $end i32) (local $p i32) (local $o i32)
    (local $s f64) (local $z i32) (local $byte i32) (local $vs v128) (local $v v128) (local $d v128) (local $q v128)
    (local $x f32) (local $vx f64) (local $dx f64)
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $n) (local.get $rows)))
        (local.set $p (i32.add (local.get $src) (i32.shl (i32.mul (local.get $n) (i32.mul (local.get $nb) (local.get $bs))) (i32.const 2))))
        (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $n) (local.get $ds))))
        (local.set $b (i32.const 0))
        (block $blocks_done
          (loop $blocks
            (br_if $blocks_done (i32.ge_u (i32.mul (local.get $b) (local.get $bs)) (local.get $len)))
            (local.set $s
              (f64.promote_f32
                (f32.load (i32.add (local.get $scales) (i32.shl (i32.add (i32.mul (local.get $n) (local.get $ss)) (local.get $b)) (i32.const 2))))))
            (local.set $vs (f64x2.splat (local.get $s)))
            (local.set $z
              (if (result i32) (i32.eq (local.get $mode) (i32.const 1))
                (then (i32.load8_u (i32.add (local.get $zps) (i32.add (i32.mul (local.get $n) (local.get $ss)) (local.get $b)))))
                (else (i32.const 8))))
            (local.set $i (i32.mul (local.get $b) (local.get $bs)))
            (local.set $end (i32.add (local.get $i) (local.get $bs)))
            (if (i32.gt_u (local.get $end) (local.get $len)) (then (local.set $end (local.get $len))))
            (local.set $j (i32.const 0))
            ;; pairs of rows i, i + 1 (one byte of codes)
            (block $pairs_done
              (loop $pairs
                (br_if $pairs_done (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $end)))
                (local.set $byte (i32.load8_u (i32.add (local.get $o) (i32.shr_u (local.get $j) (i32.const 1)))))
                (local.set $q
                  (f64x2.convert_low_i32x4_s
                    (i32x4.replace_lane 1
                      (i32x4.splat (i32.sub (i32.and (local.get $byte) (i32.const 15)) (local.get $z)))
                      (i32.sub (i32.shr_u (local.get $byte) (i32.const 4)) (local.get $z)))))
                (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))))
                (local.set $v
                  (v128.and (local.get $v)
                    (f64x2.lt (f64x2.abs (local.get $v)) (v128.const f64x2 inf inf))))
                (local.set $d (f64x2.sub (local.get $v) (f64x2.mul (local.get $vs) (local.get $q))))
                (v128.store align=8 (i32.add (local.get $err) (i32.shl (local.get $i) (i32.const 3)))
                  (f64x2.add (v128.load align=8 (i32.add (local.get $err) (i32.shl (local.get $i) (i32.const 3))))
                    (f64x2.mul (local.get $d) (local.get $d))))
                (v128.store align=8 (i32.add (local.get $e2) (i32.shl (local.get $i) (i32.const 3)))
                  (f64x2.add (v128.load align=8 (i32.add (local.get $e2) (i32.shl (local.get $i) (i32.const 3))))
                    (f64x2.mul (local.get $v) (local.get $v))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (local.set $j (i32.add (local.get $j) (i32.const 2)))
                (br $pairs)))
            ;; an odd last row (K odd): its code is the low nibble
            (if (i32.lt_u (local.get $i) (local.get $end))
              (then
                (local.set $x (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
                (local.set $vx (select (f64.promote_f32 (local.get $x)) (f64.const 0) (f32.lt (f32.abs (local.get $x)) (f32.const inf))))
                (local.set $dx
                  (f64.sub (local.get $vx)
                    (f64.mul (local.get $s)
                      (f64.convert_i32_s
                        (i32.sub (i32.and (i32.load8_u (i32.add (local.get $o) (i32.shr_u (local.get $j) (i32.const 1)))) (i32.const 15)) (local.get $z))))))
                (f64.store (i32.add (local.get $err) (i32.shl (local.get $i) (i32.const 3)))
                  (f64.add (f64.load (i32.add (local.get $err) (i32.shl (local.get $i) (i32.const 3)))) (f64.mul (local.get $dx) (local.get $dx))))
                (f64.store (i32.add (local.get $e2) (i32.shl (local.get $i) (i32.const 3)))
                  (f64.add (f64.load (i32.add (local.get $e2) (i32.shl (local.get $i) (i32.const 3)))) (f64.mul (local.get $vx) (local.get $vx))))))
            (local.set $o (i32.add (local.get $o) (i32.shr_u (local.get $bs) (i32.const 1))))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $blocks)))
        (local.set $n (i32.add (local.get $n) (local.get $step)))
        (br $rows_loop))))
)
