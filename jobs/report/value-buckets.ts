import { endianness } from 'node:os';
import type { ColumnSketch } from '../../schemas/run-report.js';

/** Mantissa bits kept in a bucket id: 3 for features (PSI needs coarse bins), 7 for scores (quantiles). */
export type SketchBits = ColumnSketch['bits'];

// One shared view pair: writing a float64 and reading its two words is exact, unlike any Math.log route.
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
if (endianness() !== 'LE')
  throw new Error('value-buckets: the bucket scheme reads the high word as words[1]');

/** Buckets per sign: 11 exponent bits and `bits` mantissa bits; the last one holds +Infinity alone. */
function positiveIds(bits: SketchBits): number {
  return 0x7ff << bits;
}

/**
 * The id of the largest bucket of one sign: `+Infinity`'s bucket is `infinityBucket(bits)`, `-Infinity`'s
 * is its negation. Every id lies in `[-infinityBucket(bits), infinityBucket(bits)]`.
 */
export function infinityBucket(bits: SketchBits): number {
  return positiveIds(bits);
}

/**
 * The bucket holding `v` (see `sketchBitsSchema`): `v >= 0` (and `-0`) → the top `12 + bits` bits of its
 * float64 pattern; `v < 0` → `-(q + 1)`, `q` that of `|v|` less one ulp, so negative buckets are `[lo, hi)`
 * too. NaN has no bucket (the caller counts it): a RangeError.
 */
export function bucketOf(v: number, bits: SketchBits): number {
  if (v !== v) throw new RangeError('bucketOf: NaN has no bucket');
  const shift = 20 - bits;
  if (v >= 0) {
    scratch[0] = v;
    // -0 compares >= 0; its sign bit is masked off so it lands in bucket 0 with +0.
    return (words[1]! & 0x7fffffff) >>> shift;
  }
  scratch[0] = -v;
  const hi = words[0] === 0 ? words[1]! - 1 : words[1]!;
  return -((hi >>> shift) + 1);
}

/** The lower edge of positive bucket `q` (the float64 whose high word is `q << (20 - bits)`, low word 0). */
function positiveEdge(q: number, bits: SketchBits): number {
  words[1] = q << (20 - bits);
  words[0] = 0;
  return scratch[0]!;
}

function checkId(id: number, bits: SketchBits): void {
  const top = positiveIds(bits);
  if (!Number.isInteger(id) || id < -top || id > top)
    throw new RangeError(`bucket id ${id} is outside [-${top}, ${top}] for ${bits} mantissa bits`);
}

/** The least value of bucket `id`: `bucketLow(id) <= v` for every `v` in it (`-Infinity` for the lowest). */
export function bucketLow(id: number, bits: SketchBits): number {
  checkId(id, bits);
  return id >= 0 ? positiveEdge(id, bits) : -positiveEdge(-id, bits);
}

/**
 * The exclusive upper edge of bucket `id`: `v < bucketHigh(id)` for every `v` in it. The largest finite
 * positive bucket ends at Infinity. The one exception to `[lo, hi)` is the `+Infinity` bucket, the single
 * point Infinity: its `lo` and `hi` are both Infinity.
 */
export function bucketHigh(id: number, bits: SketchBits): number {
  checkId(id, bits);
  if (id === positiveIds(bits)) return Infinity;
  // `|| 0` turns the -0 edge of bucket -1 into 0.
  return id >= 0 ? positiveEdge(id + 1, bits) : -positiveEdge(-id - 1, bits) || 0;
}

/** Whether `edge` is an edge of some bucket at `bits`, i.e. re-binning at it splits no bucket. */
export function isBucketEdge(edge: number, bits: SketchBits): boolean {
  if (edge !== edge) return false;
  if (edge === Infinity) return true;
  return bucketLow(bucketOf(edge, bits), bits) === edge;
}
