;; The JSONL value check's fast path (jsonl-value-check.ts), sixteen bytes at a time with SIMD. Compiled by
;; `npm run build:kernels` into jsonl-lines-wasm.ts; a unit test checks the two agree, and property tests
;; that the kernel passes nothing the scalar check would flag in valid JSON.
;;
;; `check(from, len)` reads whole lines of the window `memory[256, 256 + len)`, from its offset `from` (a
;; line's start; the window ends with a line feed and the caller pads it with `{` to a multiple of sixteen),
;; and returns the window offset of the first sixteen-byte group that holds a byte breaking one of the rules
;; below, or `len` or more when none does. The caller has the scalar check read the lines of a group
;; returned, then resumes at the next line's start in the same window, which it copies in once.
;;
;; The rules look at a byte and the up to three before it, never at whether it is inside a string: a rule's
;; context inside a string (a key holding `:` or `,`) only sends a line to the scalar check. A line passes
;; when it is a flat object of keys whose values are numbers or `null`:
;;   - after `\n` (and at the range's start) comes `{`;
;;   - after `:` comes a digit, `-`, `n` or a space, and after `: ` a digit, `-` or `n` (so a value is never
;;     text, a boolean, an object, an array, `NaN` or `Infinity`, and a line never ends awaiting a value);
;;   - after `,` comes `"` or a space, and after `, ` comes `"` (so no trailing comma, no array element);
;;   - a value starting with `-` goes on with a digit, and `-0` with a digit, `.`, `e` or `E` (the integer
;;     -0 reads as +0 in DuckDB);
;;   - a value starting with `n` is `null` (`nan` is NaN to DuckDB).
;; Anything else DuckDB reads is valid JSON it reads as `JSON.parse` does, or JSON it refuses (and then the
;; exact reader reads the part).
(module
  (memory (export "memory") 1)
  ;; Sixteen copies of each byte the rules compare with, at 16-byte offsets (loading one is one instruction;
  ;; V8 builds a v128.const splat anew in each iteration): : space " 0xb0 0x8a - n , LF { 0 . e u l
  (data (i32.const 0) "\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\3a\20\20\20\20\20\20\20\20\20\20\20\20\20\20\20\20\22\22\22\22\22\22\22\22\22\22\22\22\22\22\22\22\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\b0\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\8a\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\2d\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\6e\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\2c\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\0a\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\7b\30\30\30\30\30\30\30\30\30\30\30\30\30\30\30\30\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\2e\65\65\65\65\65\65\65\65\65\65\65\65\65\65\65\65\75\75\75\75\75\75\75\75\75\75\75\75\75\75\75\75\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c\6c")
  (func (export "check") (param $from i32) (param $len i32) (result i32)
    (local $at i32) (local $end i32)
    (local $v v128) (local $p v128) (local $p1 v128) (local $p2 v128)
    (local $colon1 v128) (local $sp1 v128) (local $sp v128) (local $quote v128) (local $digit v128)
    (local $minus v128) (local $n v128) (local $start v128) (local $s1c2 v128) (local $a v128)
    (local $m v128) (local $pm v128) (local $nn v128) (local $pn v128) (local $bad v128)
    ;; Before `from`: line feeds, so its first byte must be `{`.
    (local.set $p (v128.load offset=128 (i32.const 0)))
    (local.set $at (i32.add (local.get $from) (i32.const 256)))
    (local.set $end (i32.add (local.get $len) (i32.const 256)))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $v (v128.load (local.get $at)))
        ;; The bytes one and two before each lane's.
        (local.set $p1
          (i8x16.shuffle 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 (local.get $p) (local.get $v)))
        (local.set $p2
          (i8x16.shuffle 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 (local.get $p) (local.get $v)))
        (local.set $colon1 (i8x16.eq (local.get $p1) (v128.load offset=0 (i32.const 0))))
        (local.set $sp1 (i8x16.eq (local.get $p1) (v128.load offset=16 (i32.const 0))))
        (local.set $sp (i8x16.eq (local.get $v) (v128.load offset=16 (i32.const 0))))
        (local.set $quote (i8x16.eq (local.get $v) (v128.load offset=32 (i32.const 0))))
        ;; digits: v - 0xb0 (signed) below -118, one compare
        (local.set $digit
          (i8x16.lt_s
            (i8x16.sub (local.get $v) (v128.load offset=48 (i32.const 0)))
            (v128.load offset=64 (i32.const 0))))
        (local.set $minus (i8x16.eq (local.get $v) (v128.load offset=80 (i32.const 0))))
        (local.set $n (i8x16.eq (local.get $v) (v128.load offset=96 (i32.const 0))))
        (local.set $start (v128.or (local.get $digit) (v128.or (local.get $minus) (local.get $n))))
        ;; `: ` before the lane
        (local.set $s1c2
          (v128.and (local.get $sp1)
            (i8x16.eq (local.get $p2) (v128.load offset=0 (i32.const 0)))))
        ;; after `:`: a value's start or a space; after `: `: a value's start
        (local.set $bad
          (v128.or
            (v128.andnot (local.get $colon1) (v128.or (local.get $start) (local.get $sp)))
            (v128.andnot (local.get $s1c2) (local.get $start))))
        ;; after `,`: a quote or a space; after `, `: a quote
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.or
              (v128.andnot
                (i8x16.eq (local.get $p1) (v128.load offset=112 (i32.const 0)))
                (v128.or (local.get $quote) (local.get $sp)))
              (v128.andnot
                (v128.and (local.get $sp1)
                  (i8x16.eq (local.get $p2) (v128.load offset=112 (i32.const 0))))
                (local.get $quote)))))
        ;; after a line feed: `{`
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.andnot
              (i8x16.eq (local.get $p1) (v128.load offset=128 (i32.const 0)))
              (i8x16.eq (local.get $v) (v128.load offset=144 (i32.const 0))))))
        ;; Values starting here with `-` or `n`, then what must follow them one, two and three bytes on.
        (local.set $a (v128.or (local.get $colon1) (local.get $s1c2)))
        (local.set $m (v128.and (local.get $a) (local.get $minus)))
        (local.set $nn (v128.and (local.get $a) (local.get $n)))
        ;; `-` then a digit
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.andnot
              (i8x16.shuffle 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 (local.get $pm) (local.get $m))
              (local.get $digit))))
        ;; `-0` then a digit, `.`, `e` or `E`
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.andnot
              (v128.and
                (i8x16.shuffle 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 (local.get $pm) (local.get $m))
                (i8x16.eq (local.get $p1) (v128.load offset=160 (i32.const 0))))
              (v128.or (local.get $digit)
                (v128.or
                  (i8x16.eq (local.get $v) (v128.load offset=176 (i32.const 0)))
                  (i8x16.eq
                    (v128.or (local.get $v) (v128.load offset=16 (i32.const 0)))
                    (v128.load offset=192 (i32.const 0))))))))
        ;; `n` then `u`, `l`, `l`
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.or
              (v128.andnot
                (i8x16.shuffle 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 (local.get $pn) (local.get $nn))
                (i8x16.eq (local.get $v) (v128.load offset=208 (i32.const 0))))
              (v128.andnot
                (v128.or
                  (i8x16.shuffle 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 (local.get $pn) (local.get $nn))
                  (i8x16.shuffle 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 (local.get $pn) (local.get $nn)))
                (i8x16.eq (local.get $v) (v128.load offset=224 (i32.const 0)))))))
        (br_if $done (v128.any_true (local.get $bad)))
        (local.set $p (local.get $v))
        (local.set $pm (local.get $m))
        (local.set $pn (local.get $nn))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $group)))
    (i32.sub (local.get $at) (i32.const 256))))
