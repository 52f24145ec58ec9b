;; The run report's float32 hot loop (column-sketch.ts, `observeLanes`), four lanes at once with SIMD.
;; Compiled by `npm run build:kernels` into float32-lanes-wasm.ts; a unit test checks the two agree.
;;
;; `scan4` reads `rows` groups of four adjacent float32 values, `step` bytes apart from `src` (four lanes of a
;; row-major feature matrix: step = row bytes). Each lane's values that are normal (finite, not zero, not
;; subnormal) are counted in that lane's bucket table (`t0`..`t3`: Uint32 counts indexed by the bit
;; pattern, less one for a negative, shifted right by `shift`), and added to its shifted sums, count, least
;; and greatest value. Other values are left to the caller (a lane's count falls short of `rows`).
;;
;; `acc` holds the four lanes' running state and is read, updated and written back, so a lane's sums are
;; taken in row order across calls, the same order as the scalar loop's:
;;   acc +0   f64 s1[4]    (sum of x - k)
;;   acc +32  f64 s2[4]    (sum of (x - k)^2)
;;   acc +64  f32 min[4]
;;   acc +80  f32 max[4]
;;   acc +96  i32 n[4]
;;   acc +112 f64 k[4]     (each lane's shift, read only)
(module
  (memory (export "memory") 1)
  (func (export "scan4")
    (param $src i32) (param $rows i32) (param $step i32)
    (param $t0 i32) (param $t1 i32) (param $t2 i32) (param $t3 i32)
    (param $shift i32) (param $acc i32)
    (local $v v128) (local $ok v128) (local $idx v128) (local $inc v128)
    (local $lo v128) (local $hi v128) (local $klo v128) (local $khi v128)
    (local $s1lo v128) (local $s1hi v128) (local $s2lo v128) (local $s2hi v128)
    (local $mn v128) (local $mx v128) (local $n v128) (local $a i32) (local $end i32)
    (local.set $s1lo (v128.load (local.get $acc)))
    (local.set $s1hi (v128.load offset=16 (local.get $acc)))
    (local.set $s2lo (v128.load offset=32 (local.get $acc)))
    (local.set $s2hi (v128.load offset=48 (local.get $acc)))
    (local.set $mn (v128.load offset=64 (local.get $acc)))
    (local.set $mx (v128.load offset=80 (local.get $acc)))
    (local.set $n (v128.load offset=96 (local.get $acc)))
    (local.set $klo (v128.load offset=112 (local.get $acc)))
    (local.set $khi (v128.load offset=128 (local.get $acc)))
    (local.set $end (i32.add (local.get $src) (i32.mul (local.get $rows) (local.get $step))))
    (block $done
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (loop $row
        (local.set $v (v128.load (local.get $src)))
        ;; normal: biased exponent in [1, 254]
        (local.set $ok
          (i32x4.lt_u
            (i32x4.sub
              (i32x4.shr_u
                (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                (i32.const 23))
              (v128.const i32x4 1 1 1 1))
            (v128.const i32x4 254 254 254 254)))
        ;; byte offset of the bucket in its table
        (local.set $idx
          (i32x4.shl
            (i32x4.shr_u
              (i32x4.sub (local.get $v) (i32x4.shr_u (local.get $v) (i32.const 31)))
              (local.get $shift))
            (i32.const 2)))
        (local.set $inc (i32x4.shr_u (local.get $ok) (i32.const 31)))
        (local.set $a (i32.add (local.get $t0) (i32x4.extract_lane 0 (local.get $idx))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32x4.extract_lane 0 (local.get $inc))))
        (local.set $a (i32.add (local.get $t1) (i32x4.extract_lane 1 (local.get $idx))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32x4.extract_lane 1 (local.get $inc))))
        (local.set $a (i32.add (local.get $t2) (i32x4.extract_lane 2 (local.get $idx))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32x4.extract_lane 2 (local.get $inc))))
        (local.set $a (i32.add (local.get $t3) (i32x4.extract_lane 3 (local.get $idx))))
        (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32x4.extract_lane 3 (local.get $inc))))
        (local.set $n (i32x4.add (local.get $n) (local.get $inc)))
        ;; x - k in float64 for the counted lanes, zero for the others
        (local.set $lo
          (v128.and
            (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $klo))
            (i64x2.extend_low_i32x4_s (local.get $ok))))
        (local.set $hi
          (v128.and
            (f64x2.sub
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
              (local.get $khi))
            (i64x2.extend_high_i32x4_s (local.get $ok))))
        (local.set $s1lo (f64x2.add (local.get $s1lo) (local.get $lo)))
        (local.set $s2lo (f64x2.add (local.get $s2lo) (f64x2.mul (local.get $lo) (local.get $lo))))
        (local.set $s1hi (f64x2.add (local.get $s1hi) (local.get $hi)))
        (local.set $s2hi (f64x2.add (local.get $s2hi) (f64x2.mul (local.get $hi) (local.get $hi))))
        (local.set $mn
          (f32x4.min (local.get $mn)
            (v128.bitselect (local.get $v) (v128.const f32x4 inf inf inf inf) (local.get $ok))))
        (local.set $mx
          (f32x4.max (local.get $mx)
            (v128.bitselect (local.get $v) (v128.const f32x4 -inf -inf -inf -inf) (local.get $ok))))
        (local.set $src (i32.add (local.get $src) (local.get $step)))
        (br_if $row (i32.lt_u (local.get $src) (local.get $end)))))
    (v128.store (local.get $acc) (local.get $s1lo))
    (v128.store offset=16 (local.get $acc) (local.get $s1hi))
    (v128.store offset=32 (local.get $acc) (local.get $s2lo))
    (v128.store offset=48 (local.get $acc) (local.get $s2hi))
    (v128.store offset=64 (local.get $acc) (local.get $mn))
    (v128.store offset=80 (local.get $acc) (local.get $mx))
    (v128.store offset=96 (local.get $acc) (local.get $n))))
