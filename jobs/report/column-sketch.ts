import type { ColumnSketch } from '../../schemas/run-report.js';
import { addRuns, countInBucket, encodeRuns, forEachBucket } from './bucket-runs.js';
import { SketchMismatch } from './errors/sketch-mismatch.js';
import { infinityBucket, type SketchBits } from './value-buckets.js';
import { type KernelMemory, instantiateKernel } from '../wasm-kernel.js';
import { wasmBase64 } from './kernels/float32-lanes-wasm.js';

/** The column kinds a sketch reads (Arrow's numeric buffers, or plain numbers). */
export type ColumnValues =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | number[];

/**
 * Which elements one `observe` call reads: element `j` is `values[offset + j * stride + lane]` for `j` in
 * `[0, length)`, so one call reads one column of a row-major feature matrix (`stride` = columns, `lane` =
 * column) or a plain column (`stride` 1, the default).
 */
export interface ObserveOptions {
  /** Default 0. */
  offset?: number;
  /** Default: as many whole strides as `values` holds past `offset + lane`. */
  length?: number;
  /** Default 1. */
  stride?: number;
  /** Default 0. */
  lane?: number;
  /** Arrow validity bitmap (LSB first): bit `validityOffset + j` = 0 makes element `j` null. Default none. */
  validity?: Uint8Array | null;
  /** Default 0. */
  validityOffset?: number;
}

export interface ColumnAccumulator {
  readonly bits: SketchBits;
  observe(values: ColumnValues, options?: ObserveOptions): void;
  /** The statistics of everything observed since creation or the last `reset`; the accumulator goes on. */
  sketch(): ColumnSketch;
  /** Forget everything observed, keeping the tables (no allocation for the next segment). */
  reset(): void;
}

// Module scratch for float64 bit patterns (see value-buckets.ts: little-endian, high word at [1]).
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);

/** float64 exponent bias less float32's: a normal float32's bucket in float64 ids is its code plus this. */
const EXPONENT_REBIAS = 1023 - 127;
/** A float32 -Infinity: the one special value the float32 fast path's test lets through. */
const F32_MINUS_INFINITY = 0xff800000;
/** Counts are Uint32: fold the tables into `carried` before they could wrap. */
const TABLE_LIMIT = 0xffffffff;
/** Elements of a BigInt64Array or BigUint64Array converted per block (through a reused Float64Array). */
const BIGINT_BLOCK = 4096;

/**
 * The running state. Counting is split by where a value's bucket is cheapest to find:
 * - `f32Counts`: dense, indexed by the float32 bit pattern's top `9 + bits` bits (sign, exponent, mantissa),
 *   negatives taken one float32 ulp below `|v|`. For a normal float32 (not the smallest) that code names
 *   exactly one float64 bucket, because every float64 bucket edge in that range is a float32 too.
 * - `pageOf`/`pool`: every other value (other array types, float32 zeros, subnormals, infinities), by its
 *   float64 key `sign << (11 + bits) | q`, in pages of `2^bits` counts allocated per (sign, exponent) seen.
 * Moments cover the finite values only (`finite`): an infinity has no mean, and JSON has no Infinity.
 */
interface State {
  readonly bits: SketchBits;
  f32Counts: Uint32Array | null;
  /** Byte offset of `f32Counts` in the kernel's memory while it lives there (`resident`), else -1. */
  kernelAt: number;
  readonly pageOf: Int32Array;
  pool: Uint32Array;
  pages: number;
  /** Values counted in the tables since the last fold. */
  tabled: number;
  /** Buckets folded out of the tables (only past 2^32 values). */
  carried: Map<number, number> | null;
  rows: number;
  nulls: number;
  nans: number;
  count: number;
  finite: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
  bigScratch: Float64Array | null;
}

/** Each accumulator's state, for the kernels that update several at once (`observeLanes`, `observeColumns`). */
const states = new WeakMap<ColumnAccumulator, State>();

/** A fresh accumulator for one column; `bits` 3 for features, 7 for scores. */
export function makeColumnAccumulator(bits: SketchBits): ColumnAccumulator {
  const state: State = {
    bits,
    f32Counts: null,
    kernelAt: -1,
    pageOf: new Int32Array(1 << 12).fill(-1),
    pool: new Uint32Array(16 << bits),
    pages: 0,
    tabled: 0,
    carried: null,
    rows: 0,
    nulls: 0,
    nans: 0,
    count: 0,
    finite: 0,
    mean: 0,
    m2: 0,
    min: Infinity,
    max: -Infinity,
    bigScratch: null,
  };
  const accumulator: ColumnAccumulator = {
    bits,
    observe: (values, options) => observe(state, values, options),
    sketch: () => sketchOf(state),
    reset: () => resetState(state),
  };
  states.set(accumulator, state);
  return accumulator;
}

/** Rows of a row-major float32 matrix: row `r`, column `c` is `values[offset + r * width + c]`. */
export interface MatrixPiece {
  values: Float32Array;
  offset: number;
  rows: number;
  /** Arrow validity bitmap (LSB first) of `values`: bit `validityOffset + i` = 0 makes `values[i]` null. */
  validity?: Uint8Array | null;
  /** Default 0. */
  validityOffset?: number;
}

function isNullAt(piece: MatrixPiece, i: number): boolean {
  const bit = (piece.validityOffset ?? 0) + i;
  return ((piece.validity![bit >>> 3]! >>> (bit & 7)) & 1) === 0;
}

/** One lane's validity, bit `j` for row `j` of the piece (what `observe` takes). */
function laneValidity(piece: MatrixPiece, width: number, lane: number): Uint8Array {
  const bits = new Uint8Array((piece.rows + 7) >>> 3);
  for (let j = 0, i = piece.offset + lane; j < piece.rows; j++, i += width)
    if (!isNullAt(piece, i)) bits[j >>> 3]! |= 1 << (j & 7);
  return bits;
}

/** The WebAssembly kernel of `observeLanes` (float32-lanes.wat); null where it cannot be instantiated. */
interface LanesKernel {
  memory: KernelMemory;
  scan4(
    src: number,
    rows: number,
    step: number,
    t0: number,
    t1: number,
    t2: number,
    t3: number,
    shift: number,
    acc: number,
  ): void;
}
let lanesKernel: LanesKernel | null | undefined;
function kernel(): LanesKernel | null {
  if (lanesKernel === undefined) lanesKernel = instantiateKernel<LanesKernel>(wasmBase64);
  return lanesKernel;
}

/** Bytes of one lane group's state in the kernel's memory (see float32-lanes.wat). */
const ACC_BYTES = 144;
/** Matrix bytes copied into the kernel's memory at a time: with the tables, within a core's L2. */
const BLOCK_BYTES = 1 << 19;

/**
 * Observes columns of a row-major float32 matrix (a packed feature column's lanes): the same as
 * `accumulator.observe(piece.values, { offset, length: rows, stride: width, lane })` for every piece and
 * lane, a piece's nulls (its element-wise validity) counted as nulls, with the same figures. Four adjacent
 * lanes with their own accumulators go through the SIMD kernel together, in blocks copied once into its
 * memory; the rest, and values that are not normal (zeros, subnormals, infinities, NaN) or null, through
 * the scalar loop. `useKernel: false` forces the scalar loop.
 *
 * On the 2-core dev VM, 1 M rows × 64 lanes: 1.7–1.8 ns a value against 8.8–9.5 for the scalar loop
 * (`npm run bench:stats`).
 */
export function observeLanes(
  pieces: readonly MatrixPiece[],
  width: number,
  lanes: ReadonlyArray<{ accumulator: ColumnAccumulator; lane: number }>,
  options: { useKernel?: boolean } = {},
): void {
  const byLane = new Map<number, ColumnAccumulator>();
  for (const { accumulator, lane } of lanes) {
    if (!Number.isInteger(lane) || lane < 0 || lane >= width)
      throw new RangeError(`observeLanes: lane ${lane} is outside a width of ${width}`);
    if (!byLane.has(lane)) byLane.set(lane, accumulator);
  }
  // A piece outside its array (or its bitmap) is refused before any lane counts a row of it.
  for (const piece of pieces) {
    const end = piece.offset + piece.rows * width;
    if (piece.rows < 0 || piece.offset < 0 || end > piece.values.length)
      throw new RangeError(
        `observeLanes: ${piece.rows} rows of ${width} from ${piece.offset} overrun ${piece.values.length}`,
      );
    if (piece.validity && ((piece.validityOffset ?? 0) + end + 7) >>> 3 > piece.validity.length)
      throw new RangeError('observeLanes: the validity bitmap is shorter than the rows read');
  }
  const wasm = options.useKernel === false ? null : kernel();
  const groups: Array<{ lane: number; states: State[] }> = [];
  const scalar: Array<{ accumulator: ColumnAccumulator; lane: number }> = [];
  const taken = new Set<number>();
  if (wasm) {
    for (let lane = 0; lane + 4 <= width; lane += 4) {
      const four = [0, 1, 2, 3].map((i) => byLane.get(lane + i));
      const own = four.map((a) => (a ? states.get(a) : undefined));
      if (own.some((st) => st === undefined)) continue;
      const group = own as State[];
      if (new Set(group).size < 4 || group.some((st) => st.bits !== group[0]!.bits)) continue;
      groups.push({ lane, states: group });
      for (let i = 0; i < 4; i++) taken.add(lane + i);
    }
  }
  for (const [lane, accumulator] of byLane) if (!taken.has(lane)) scalar.push({ accumulator, lane });
  for (const { accumulator, lane } of scalar)
    for (const piece of pieces)
      accumulator.observe(piece.values, {
        offset: piece.offset,
        length: piece.rows,
        stride: width,
        lane,
        ...(piece.validity ? { validity: laneValidity(piece, width, lane), validityOffset: 0 } : {}),
      });
  if (!wasm || groups.length === 0) return;
  scanGroups(wasm, pieces, width, groups);
}

/**
 * The accumulators whose bucket tables live in the kernel's memory (from byte 0, in this order), so calls
 * on the same lanes copy no table: 64 feature tables are 1 MiB, more than a 4,096-row call's matrix. Their
 * own `f32Counts` are stale until `evict` copies the tables back, which anything else that reads or writes
 * them does first (`syncTables`).
 */
let resident: { states: State[]; tablesEnd: number } | null = null;

function evict(): void {
  if (!resident || !lanesKernel) return;
  const u32 = new Uint32Array(lanesKernel.memory.buffer);
  for (const st of resident.states) {
    const counts = st.f32Counts!;
    counts.set(u32.subarray(st.kernelAt >>> 2, (st.kernelAt >>> 2) + counts.length));
    st.kernelAt = -1;
  }
  resident = null;
}

/** Makes the accumulator's `f32Counts` current (its tables back from the kernel's memory, if there). */
function syncTables(st: State): void {
  if (st.kernelAt >= 0) evict();
}

/**
 * Makes `wanted` the resident accumulators (their tables from byte 0, copied in unless they already are),
 * folding any table that could wrap, and returns views of the kernel's memory with room after the tables
 * for `slots` lane-group states and `dataBytes` of data.
 */
function residentViews(wasm: LanesKernel, wanted: State[], total: number, slots: number, dataBytes: number) {
  for (const st of wanted) {
    if (st.tabled + total <= TABLE_LIMIT) continue;
    syncTables(st);
    foldTables(st);
  }
  const same =
    resident !== null &&
    resident.states.length === wanted.length &&
    resident.states.every((st, i) => st === wanted[i]);
  let tablesEnd = same ? resident!.tablesEnd : 0;
  if (!same) {
    evict();
    for (const st of wanted) {
      st.f32Counts ??= new Uint32Array(1 << (9 + st.bits));
      st.kernelAt = tablesEnd;
      tablesEnd += st.f32Counts.byteLength;
    }
  }
  const accAt = tablesEnd;
  const dataAt = accAt + slots * ACC_BYTES;
  const needed = dataAt + dataBytes;
  const have = wasm.memory.buffer.byteLength;
  if (needed > have) wasm.memory.grow(Math.ceil((needed - have) / 65536));
  const buffer = wasm.memory.buffer;
  const u32 = new Uint32Array(buffer);
  if (!same) {
    for (const st of wanted) u32.set(st.f32Counts!, st.kernelAt >>> 2);
    resident = { states: wanted, tablesEnd };
  }
  return {
    f32: new Float32Array(buffer),
    f64: new Float64Array(buffer),
    i32: new Int32Array(buffer),
    accAt,
    dataAt,
  };
}

/** Lane `i` of the group state at `acc` (see float32-lanes.wat) starts empty, shifted by `k`. */
function startLane(f32: Float32Array, f64: Float64Array, i32: Int32Array, acc: number, i: number, k: number) {
  f64[(acc >>> 3) + i] = 0;
  f64[(acc + 32) / 8 + i] = 0;
  f32[(acc + 64) / 4 + i] = Infinity;
  f32[(acc + 80) / 4 + i] = -Infinity;
  i32[(acc + 96) / 4 + i] = 0;
  f64[(acc + 112) / 8 + i] = k;
}

function scanGroups(
  wasm: LanesKernel,
  pieces: readonly MatrixPiece[],
  width: number,
  groups: ReadonlyArray<{ lane: number; states: State[] }>,
): void {
  const total = pieces.reduce((sum, piece) => sum + piece.rows, 0);
  if (total === 0) return;
  const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (width * 4)));
  const { f32, f64, i32, accAt, dataAt } = residentViews(
    wasm,
    groups.flatMap((group) => group.states),
    total,
    groups.length,
    blockRows * width * 4,
  );

  const first = pieces.find((piece) => piece.rows > 0)!;
  groups.forEach((group, g) => {
    const acc = accAt + g * ACC_BYTES;
    group.states.forEach((st, i) => {
      st.rows += total;
      const lane = first.offset + group.lane + i;
      startLane(f32, f64, i32, acc, i, shiftFor(st, first.values, lane, first.rows, width, null, 0));
    });
  });

  // Each group's kernel arguments but the row count, the same for every block.
  const calls = groups.map((group, g) => ({
    src: dataAt + group.lane * 4,
    t: group.states.map((st) => st.kernelAt),
    shift: 23 - group.states[0]!.bits,
    acc: accAt + g * ACC_BYTES,
  }));
  const block = f32.subarray(dataAt >>> 2, (dataAt >>> 2) + blockRows * width);
  for (const piece of pieces) {
    for (let r0 = 0; r0 < piece.rows; r0 += blockRows) {
      const rows = Math.min(blockRows, piece.rows - r0);
      const from = piece.offset + r0 * width;
      block.set(piece.values.subarray(from, from + rows * width));
      // Nulls become NaN, which the kernel counts nowhere; the pass over its leftovers counts them as nulls.
      if (piece.validity) nullsToNaN(block, piece.validity, (piece.validityOffset ?? 0) + from, rows * width);
      calls.forEach(({ src, t, shift, acc }) =>
        wasm.scan4(src, rows, width * 4, t[0]!, t[1]!, t[2]!, t[3]!, shift, acc),
      );
    }
  }

  groups.forEach((group, g) => {
    const acc = accAt + g * ACC_BYTES;
    group.states.forEach((st, i) => {
      const n = i32[(acc + 96) / 4 + i]!;
      const s1 = f64[(acc >>> 3) + i]!;
      const s2 = f64[(acc + 32) / 8 + i]!;
      const mn = Math.min(st.min, f32[(acc + 64) / 4 + i]!);
      const mx = Math.max(st.max, f32[(acc + 80) / 4 + i]!);
      finishCall(st, n, f64[(acc + 112) / 8 + i]!, s1, s2, mn, mx, 0, 0, 0);
      if (n < total) for (const piece of pieces) scanSpecials(st, piece, width, group.lane + i);
    });
  });
}

/** Consecutive values of one column: `values[offset]` to `values[offset + length - 1]`. */
export interface ColumnPiece {
  values: Float32Array;
  offset: number;
  length: number;
}

/**
 * Observes contiguous float32 columns without nulls (a CSV's or an Arrow file's separate feature columns):
 * the same as `accumulator.observe(piece.values, { offset, length })` for each piece of each column, with
 * the same counts, buckets and extremes, and moments equal up to rounding (the kernel sums a column as four
 * interleaved lanes). All the columns' tables stay in the kernel's memory between calls, as
 * `observeLanes` keeps a matrix's. `useKernel: false` forces the scalar loop.
 */
export function observeColumns(
  columns: ReadonlyArray<{ accumulator: ColumnAccumulator; pieces: readonly ColumnPiece[] }>,
  options: { useKernel?: boolean } = {},
): void {
  const wasm = options.useKernel === false ? null : kernel();
  // One entry per accumulator, its pieces in order; a piece outside its array is refused before any count.
  const byState = new Map<State, { accumulator: ColumnAccumulator; pieces: ColumnPiece[]; total: number }>();
  for (const { accumulator, pieces } of columns) {
    const st = states.get(accumulator);
    if (!st) throw new TypeError('observeColumns: not an accumulator of makeColumnAccumulator');
    const entry = byState.get(st) ?? { accumulator, pieces: [], total: 0 };
    for (const piece of pieces) {
      if (piece.length < 0 || piece.offset < 0 || piece.offset + piece.length > piece.values.length)
        throw new RangeError(
          `observeColumns: ${piece.length} values from ${piece.offset} overrun ${piece.values.length}`,
        );
      entry.pieces.push(piece);
      entry.total += piece.length;
    }
    byState.set(st, entry);
  }
  const wanted = [...byState].filter(([, entry]) => entry.total > 0);
  if (!wasm) {
    for (const [, { accumulator, pieces }] of wanted)
      for (const piece of pieces)
        accumulator.observe(piece.values, { offset: piece.offset, length: piece.length });
    return;
  }
  if (wanted.length === 0) return;
  const blockValues = (BLOCK_BYTES >>> 2) & ~3;
  const total = Math.max(...wanted.map(([, entry]) => entry.total));
  const { f32, f64, i32, accAt, dataAt } = residentViews(
    wasm,
    wanted.map(([st]) => st),
    total,
    wanted.length,
    (blockValues + 4) * 4,
  );
  const block = f32.subarray(dataAt >>> 2, (dataAt >>> 2) + blockValues + 4);
  wanted.forEach(([st, { pieces, total }], c) => {
    const acc = accAt + c * ACC_BYTES;
    const first = pieces.find((piece) => piece.length > 0)!;
    const k = shiftFor(st, first.values, first.offset, first.length, 1, null, 0);
    for (let i = 0; i < 4; i++) startLane(f32, f64, i32, acc, i, k);
    st.rows += total;
    for (const piece of pieces) {
      for (let v0 = 0; v0 < piece.length; v0 += blockValues) {
        const n = Math.min(blockValues, piece.length - v0);
        const from = piece.offset + v0;
        block.set(piece.values.subarray(from, from + n));
        // A short last group is padded with NaN, which the kernel counts nowhere.
        const padded = (n + 3) & ~3;
        block.fill(NaN, n, padded);
        const t = st.kernelAt;
        wasm.scan4(dataAt, padded >>> 2, 16, t, t, t, t, 23 - st.bits, acc);
      }
    }
    let n = 0;
    let s1 = 0;
    let s2 = 0;
    let mn = st.min;
    let mx = st.max;
    for (let i = 0; i < 4; i++) {
      n += i32[(acc + 96) / 4 + i]!;
      s1 += f64[(acc >>> 3) + i]!;
      s2 += f64[(acc + 32) / 8 + i]!;
      mn = Math.min(mn, f32[(acc + 64) / 4 + i]!);
      mx = Math.max(mx, f32[(acc + 80) / 4 + i]!);
    }
    finishCall(st, n, k, s1, s2, mn, mx, 0, 0, 0);
    if (n < total)
      for (const piece of pieces)
        scanSpecials(st, { values: piece.values, offset: piece.offset, rows: piece.length }, 1, 0);
  });
}

/** Sets `block[e]` to NaN where bit `first + e` of `validity` is 0, for `e` in `[0, length)`. */
function nullsToNaN(block: Float32Array, validity: Uint8Array, first: number, length: number): void {
  const end = first + length;
  for (let byte = first >>> 3; byte <= (end - 1) >>> 3; byte++) {
    const bits = validity[byte]!;
    if (bits === 0xff) continue;
    for (let bit = 0; bit < 8; bit++) {
      const at = byte * 8 + bit;
      if (at >= first && at < end && ((bits >>> bit) & 1) === 0) block[at - first] = NaN;
    }
  }
}

/**
 * The values of one lane that the kernel left out (biased exponent 0 or 255: zeros, subnormals,
 * infinities, NaN), as the scalar loop's slow branch counts them.
 */
function scanSpecials(st: State, piece: MatrixPiece, width: number, lane: number): void {
  const { values, offset, rows } = piece;
  const words32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const k = st.finite > 0 ? st.mean : 0;
  let n = 0;
  let s1 = 0;
  let s2 = 0;
  let mn = st.min;
  let mx = st.max;
  let nans = 0;
  let infinite = 0;
  let nulls = 0;
  const validity = piece.validity ?? null;
  for (let j = 0, i = offset + lane; j < rows; j++, i += width) {
    if (validity !== null && isNullAt(piece, i)) {
      nulls++;
      continue;
    }
    const exponent = (words32[i]! >>> 23) & 0xff;
    if (exponent !== 0 && exponent !== 0xff) continue;
    const x = values[i]!;
    if (x !== x) {
      nans++;
      continue;
    }
    countByKey(st, x);
    if (x - x === 0) {
      const d = x - k;
      s1 += d;
      s2 += d * d;
      n++;
    } else infinite++;
    if (x < mn) mn = x;
    if (x > mx) mx = x;
  }
  // The kernel already counted this call's rows; only the counts, moments and extremes are added here.
  finishCall(st, n, k, s1, s2, mn, mx, nulls, nans, infinite);
}

function observe(st: State, values: ColumnValues, options: ObserveOptions = {}): void {
  syncTables(st);
  const offset = options.offset ?? 0;
  const stride = options.stride ?? 1;
  const lane = options.lane ?? 0;
  const start = offset + lane;
  const length = options.length ?? Math.max(0, Math.floor((values.length - start + stride - 1) / stride));
  const validity = options.validity ?? null;
  const validityOffset = options.validityOffset ?? 0;
  if (!(stride >= 1) || !Number.isInteger(stride) || !Number.isInteger(start) || start < 0)
    throw new RangeError(`observe: bad offset ${offset}, lane ${lane} or stride ${stride}`);
  if (length > 0 && start + (length - 1) * stride >= values.length)
    throw new RangeError(
      `observe: ${length} elements at stride ${stride} from ${start} overrun ${values.length}`,
    );
  if (validity !== null && (validityOffset + length + 7) >>> 3 > validity.length)
    throw new RangeError('observe: the validity bitmap is shorter than the elements read');
  if (length <= 0) return;
  if (st.tabled + length > TABLE_LIMIT) foldTables(st);
  st.rows += length;
  if (values instanceof Float32Array) {
    st.f32Counts ??= new Uint32Array(1 << (9 + st.bits));
    const words32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
    scanFloat32(st, values, words32, st.f32Counts, start, length, stride, validity, validityOffset);
  } else if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    // Rounded to the nearest double, in blocks through one reused Float64Array.
    st.bigScratch ??= new Float64Array(BIGINT_BLOCK);
    const block = st.bigScratch;
    for (let j0 = 0; j0 < length; j0 += BIGINT_BLOCK) {
      const n = Math.min(BIGINT_BLOCK, length - j0);
      for (let k = 0; k < n; k++) block[k] = Number(values[start + (j0 + k) * stride]!);
      scanNumbers(st, block, 0, n, 1, validity, validityOffset + j0);
    }
  } else {
    scanNumbers(st, values, start, length, stride, validity, validityOffset);
  }
}

/** A shift near the data's mean keeps the one-pass sums exact enough (no cancellation in `s2 - s1²/n`). */
function shiftFor(
  st: State,
  values: ArrayLike<number>,
  start: number,
  length: number,
  stride: number,
  validity: Uint8Array | null,
  validityOffset: number,
): number {
  if (st.finite > 0) return st.mean;
  for (let j = 0, i = start; j < length; j++, i += stride) {
    if (
      validity !== null &&
      ((validity[(validityOffset + j) >>> 3]! >>> ((validityOffset + j) & 7)) & 1) === 0
    )
      continue;
    const x = values[i]!;
    if (x - x === 0) return x;
  }
  return 0;
}

/**
 * The hot loop: one load of the bit pattern, one of the value, a range test on the exponent, one count
 * and the shifted sums. Zeros, subnormals, NaN and +Infinity take the slow branch; -Infinity passes the
 * test (its code is -MAX's) and is taken back out afterwards, seen by the sums turning non-finite.
 */
function scanFloat32(
  st: State,
  values: Float32Array,
  words32: Uint32Array,
  counts: Uint32Array,
  start: number,
  length: number,
  stride: number,
  validity: Uint8Array | null,
  validityOffset: number,
): void {
  const shift = 23 - st.bits;
  const k = shiftFor(st, values, start, length, stride, validity, validityOffset);
  let n = 0;
  let s1 = 0;
  let s2 = 0;
  let mn = st.min;
  let mx = st.max;
  let nulls = 0;
  let nans = 0;
  let infinite = 0;
  for (let j = 0, i = start; j < length; j++, i += stride) {
    if (
      validity !== null &&
      ((validity[(validityOffset + j) >>> 3]! >>> ((validityOffset + j) & 7)) & 1) === 0
    ) {
      nulls++;
      continue;
    }
    const a = words32[i]!;
    const x = values[i]!;
    const b = a - (a >>> 31);
    if ((((b >>> 23) & 0xff) - 1) >>> 0 < 254) {
      counts[b >>> shift]!++;
      const d = x - k;
      s1 += d;
      s2 += d * d;
      n++;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    } else if (x === x) {
      countByKey(st, x);
      if (x - x === 0) {
        const d = x - k;
        s1 += d;
        s2 += d * d;
        n++;
      } else infinite++;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    } else nans++;
  }
  if (!(s1 - s1 === 0 && s2 - s2 === 0)) {
    // -Infinity went through the fast branch: move its counts to its own bucket and redo the sums without it.
    const code = (F32_MINUS_INFINITY - 1) >>> shift;
    n = 0;
    s1 = 0;
    s2 = 0;
    for (let j = 0, i = start; j < length; j++, i += stride) {
      if (
        validity !== null &&
        ((validity[(validityOffset + j) >>> 3]! >>> ((validityOffset + j) & 7)) & 1) === 0
      )
        continue;
      const x = values[i]!;
      if (words32[i] === F32_MINUS_INFINITY) {
        counts[code]!--;
        countByKey(st, x);
        infinite++;
      } else if (x - x === 0) {
        const d = x - k;
        s1 += d;
        s2 += d * d;
        n++;
      }
    }
  }
  finishCall(st, n, k, s1, s2, mn, mx, nulls, nans, infinite);
}

/** Every other array kind: the float64 pattern of each value, counted by key in the paged table. */
function scanNumbers(
  st: State,
  values: ArrayLike<number>,
  start: number,
  length: number,
  stride: number,
  validity: Uint8Array | null,
  validityOffset: number,
): void {
  const bits = st.bits;
  const shift = 20 - bits;
  const mask = (1 << bits) - 1;
  const signBit = 11 + bits;
  const pageOf = st.pageOf;
  let pool = st.pool;
  const k = shiftFor(st, values, start, length, stride, validity, validityOffset);
  let n = 0;
  let s1 = 0;
  let s2 = 0;
  let mn = st.min;
  let mx = st.max;
  let nulls = 0;
  let nans = 0;
  let infinite = 0;
  for (let j = 0, i = start; j < length; j++, i += stride) {
    if (
      validity !== null &&
      ((validity[(validityOffset + j) >>> 3]! >>> ((validityOffset + j) & 7)) & 1) === 0
    ) {
      nulls++;
      continue;
    }
    const x = values[i]!;
    if (x - x === 0) {
      scratch[0] = x;
      const neg = x < 0 ? 1 : 0;
      // |v| less one ulp for a negative: borrow from the high word when the low word is 0.
      const h = (words[1]! & 0x7fffffff) - (neg & (words[0] === 0 ? 1 : 0));
      const key = (neg << signBit) | (h >>> shift);
      let page = pageOf[key >>> bits]!;
      if (page < 0) {
        page = allocPage(st, key >>> bits);
        pool = st.pool;
      }
      pool[(page << bits) | (key & mask)]!++;
      const d = x - k;
      s1 += d;
      s2 += d * d;
      n++;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    } else if (x === x) {
      countByKey(st, x);
      pool = st.pool;
      infinite++;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    } else nans++;
  }
  finishCall(st, n, k, s1, s2, mn, mx, nulls, nans, infinite);
}

/** One value's count in the paged table (the slow path: any non-NaN number). */
function countByKey(st: State, x: number): void {
  const bits = st.bits;
  scratch[0] = x;
  const neg = x < 0 ? 1 : 0;
  const h = (words[1]! & 0x7fffffff) - (neg & (words[0] === 0 ? 1 : 0));
  const key = (neg << (11 + bits)) | (h >>> (20 - bits));
  let page = st.pageOf[key >>> bits]!;
  if (page < 0) page = allocPage(st, key >>> bits);
  st.pool[(page << bits) | (key & ((1 << bits) - 1))]!++;
}

function allocPage(st: State, top: number): number {
  const size = 1 << st.bits;
  if ((st.pages + 1) * size > st.pool.length) {
    const grown = new Uint32Array(st.pool.length * 2);
    grown.set(st.pool);
    st.pool = grown;
  }
  st.pageOf[top] = st.pages;
  return st.pages++;
}

/** Adds one call's counts, and its moments by Chan's update (the shift `k` cancels out of the delta). */
function finishCall(
  st: State,
  n: number,
  k: number,
  s1: number,
  s2: number,
  mn: number,
  mx: number,
  nulls: number,
  nans: number,
  infinite: number,
): void {
  st.nulls += nulls;
  st.nans += nans;
  st.count += n + infinite;
  st.tabled += n + infinite;
  st.min = mn;
  st.max = mx;
  if (n === 0) return;
  const callMean = k + s1 / n;
  const callM2 = Math.max(0, s2 - (s1 * s1) / n);
  if (st.finite === 0) {
    st.mean = callMean;
    st.m2 = callM2;
    st.finite = n;
    return;
  }
  const delta = k - st.mean + s1 / n;
  const total = st.finite + n;
  st.mean += (delta * n) / total;
  st.m2 += callM2 + (delta * delta * st.finite * n) / total;
  st.finite = total;
}

/** Calls `visit(id, count)` for every non-zero count in the tables (ids unordered, possibly repeated). */
function forEachTabled(st: State, visit: (id: number, count: number) => void): void {
  syncTables(st);
  const bits = st.bits;
  const counts = st.f32Counts;
  if (counts !== null) {
    const magnitudeBits = 8 + bits;
    const rebias = EXPONENT_REBIAS << bits;
    for (let code = 0; code < counts.length; code++) {
      const c = counts[code]!;
      if (c === 0) continue;
      const q = (code & ((1 << magnitudeBits) - 1)) + rebias;
      visit(code >>> magnitudeBits ? -(q + 1) : q, c);
    }
  }
  const size = 1 << bits;
  for (let top = 0; top < st.pageOf.length; top++) {
    const page = st.pageOf[top]!;
    if (page < 0) continue;
    for (let slot = 0; slot < size; slot++) {
      const c = st.pool[page * size + slot]!;
      if (c === 0) continue;
      const key = (top << bits) | slot;
      const q = key & ((1 << (11 + bits)) - 1);
      visit(key >>> (11 + bits) ? -(q + 1) : q, c);
    }
  }
}

function foldTables(st: State): void {
  const carried = (st.carried ??= new Map());
  forEachTabled(st, (id, c) => carried.set(id, (carried.get(id) ?? 0) + c));
  clearTables(st);
}

function clearTables(st: State): void {
  syncTables(st);
  st.f32Counts?.fill(0);
  st.pool.fill(0);
  st.tabled = 0;
}

function resetState(st: State): void {
  clearTables(st);
  st.carried = null;
  st.rows = 0;
  st.nulls = 0;
  st.nans = 0;
  st.count = 0;
  st.finite = 0;
  st.mean = 0;
  st.m2 = 0;
  st.min = Infinity;
  st.max = -Infinity;
}

function sketchOf(st: State): ColumnSketch {
  const byId = new Map<number, number>(st.carried ?? []);
  forEachTabled(st, (id, c) => byId.set(id, (byId.get(id) ?? 0) + c));
  const ids = [...byId.keys()].sort((x, y) => x - y);
  return {
    rows: st.rows,
    nulls: st.nulls,
    nans: st.nans,
    count: st.count,
    min: st.count > 0 && Number.isFinite(st.min) ? st.min : null,
    max: st.count > 0 && Number.isFinite(st.max) ? st.max : null,
    mean: st.mean,
    m2: st.m2,
    bits: st.bits,
    buckets: encodeRuns(
      ids,
      ids.map((id) => byId.get(id)!),
    ),
  };
}

/** A sketch of no rows. */
export function emptySketch(bits: SketchBits): ColumnSketch {
  return { rows: 0, nulls: 0, nans: 0, count: 0, min: null, max: null, mean: 0, m2: 0, bits, buckets: [] };
}

/**
 * The least and greatest value of a sketch, infinities included. A sketch writes an infinite extreme as
 * null (JSON has no Infinity); the bucket tells which: +Infinity's bucket holds that value alone, so a null
 * min is -Infinity unless every value is +Infinity (and a null max likewise).
 */
export function extremesOf(sketch: ColumnSketch): { min: number; max: number } | null {
  if (sketch.count === 0) return null;
  const top = infinityBucket(sketch.bits);
  const plusInfinities = countInBucket(sketch.buckets, top);
  const allPlus = plusInfinities === sketch.count;
  const min = sketch.min ?? (allPlus ? Infinity : -Infinity);
  const max = sketch.max ?? (plusInfinities > 0 ? Infinity : -Infinity);
  return { min, max };
}

/**
 * How many of a sketch's values are finite, i.e. what its mean and m2 are over. Exact except when the
 * least value is -Infinity: the -Infinity bucket also holds the finite values below -1.68e308 (bits 3), and
 * they are taken for infinities. Such a column's mean is reported null whatever this returns.
 */
export function finiteCount(sketch: ColumnSketch): number {
  const ext = extremesOf(sketch);
  if (ext === null) return 0;
  const top = infinityBucket(sketch.bits);
  let infinite = countInBucket(sketch.buckets, top);
  if (ext.min === -Infinity) infinite += countInBucket(sketch.buckets, -top);
  return Math.max(0, sketch.count - infinite);
}

/** Whether any value of the sketch is infinite (its mean and std have no finite value). */
export function hasInfinity(sketch: ColumnSketch): boolean {
  const ext = extremesOf(sketch);
  return ext !== null && (ext.min === -Infinity || ext.max === Infinity);
}

/**
 * The sketch of the two sketches' rows together: counts and buckets added, moments by Chan's parallel
 * update (exact up to rounding, whatever the split). Both must count at the same `bits`.
 */
export function mergeSketches(a: ColumnSketch, b: ColumnSketch): ColumnSketch {
  if (a.bits !== b.bits) throw new SketchMismatch('bits', a.bits, b.bits);
  const na = finiteCount(a);
  const nb = finiteCount(b);
  let mean = 0;
  let m2 = 0;
  if (na === 0) {
    mean = b.mean;
    m2 = b.m2;
  } else if (nb === 0) {
    mean = a.mean;
    m2 = a.m2;
  } else {
    const n = na + nb;
    const delta = b.mean - a.mean;
    mean = a.mean + (delta * nb) / n;
    m2 = a.m2 + b.m2 + (delta * delta * na * nb) / n;
  }
  const ea = extremesOf(a);
  const eb = extremesOf(b);
  const min = Math.min(ea?.min ?? Infinity, eb?.min ?? Infinity);
  const max = Math.max(ea?.max ?? -Infinity, eb?.max ?? -Infinity);
  const count = a.count + b.count;
  return {
    rows: a.rows + b.rows,
    nulls: a.nulls + b.nulls,
    nans: a.nans + b.nans,
    count,
    min: count > 0 && Number.isFinite(min) ? min : null,
    max: count > 0 && Number.isFinite(max) ? max : null,
    mean,
    m2,
    bits: a.bits,
    buckets: addRuns(a.buckets, b.buckets),
  };
}

/** Each non-zero bucket of a sketch, ascending (for summaries and re-binning). */
export function sketchBuckets(sketch: ColumnSketch, visit: (id: number, count: number) => void): void {
  forEachBucket(sketch.buckets, visit);
}
