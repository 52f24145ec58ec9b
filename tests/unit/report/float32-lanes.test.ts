import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Field, FixedSizeList, Float32, RecordBatch, makeData } from 'apache-arrow';
import {
  type ColumnAccumulator,
  type MatrixPiece,
  makeColumnAccumulator,
  observeColumns,
  observeLanes,
} from '../../../jobs/report/column-sketch.js';
import type { SketchBits } from '../../../jobs/report/value-buckets.js';
import type { ColumnSketch } from '../../../schemas/run-report.js';
import { makeBatchStats } from '../../../services/scoring/batch-stats.js';
import { kernels, modulePathOf, renderKernel } from '../../../scripts/lib/kernels.js';
import { seededRandom as random } from '../../helpers/seeded-random.js';

/** A row-major matrix: lane j is normal around a mean of its own sign and scale. */
function matrix(rows: number, width: number, seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < width; j++) {
      const z = Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
      out[r * width + j] = (j % 3 === 0 ? -1 : 1) * (j + 1) * 10 ** ((j % 5) - 2) * (1 + 0.3 * z);
    }
  return out;
}

const SPECIALS = [
  0,
  -0,
  1e-42,
  -1e-42,
  Infinity,
  -Infinity,
  NaN,
  3.4028234663852886e38,
  -1.1754943508222875e-38,
];

/** Counts, nulls, NaNs, extremes and buckets exact; the moments within `tolerance` of each other, relatively. */
function expectSameFigures(actual: ColumnSketch[], expected: ColumnSketch[], tolerance: number) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((sketch, i) => {
    const { mean, m2, ...exact } = sketch;
    const { mean: refMean, m2: refM2, ...refExact } = expected[i]!;
    expect(exact).toEqual(refExact);
    expect(Math.abs(mean - refMean)).toBeLessThanOrEqual(tolerance * Math.abs(refMean) + 1e-300);
    expect(Math.abs(m2 - refM2)).toBeLessThanOrEqual(tolerance * Math.abs(refM2) + 1e-300);
  });
}

/** Each lane's sketch, observed lane by lane through the scalar loop (the reference) and through observeLanes. */
function bothWays(pieces: MatrixPiece[], width: number, lanes: number[], bits: SketchBits = 3) {
  const scalar = lanes.map(() => makeColumnAccumulator(bits));
  lanes.forEach((lane, i) => {
    for (const piece of pieces)
      scalar[i]!.observe(piece.values, { offset: piece.offset, length: piece.rows, stride: width, lane });
  });
  const kernel = lanes.map(() => makeColumnAccumulator(bits));
  observeLanes(
    pieces,
    width,
    lanes.map((lane, i) => ({ accumulator: kernel[i]!, lane })),
  );
  return { scalar: scalar.map((a) => a.sketch()), kernel: kernel.map((a) => a.sketch()) };
}

describe('observeLanes (the float32 SIMD kernel)', () => {
  it('is compiled from its source: the committed module is what build:kernels makes of the .wat', async () => {
    for (const wat of kernels)
      expect(await readFile(modulePathOf(wat), 'utf8')).toBe(await renderKernel(wat));
  });

  it('gives each lane exactly the scalar loop’s sketch, across pieces, offsets and blocks', () => {
    const width = 10; // lanes 0–7 through the kernel, 8–9 through the scalar loop
    const lanes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const a = matrix(70_001, width, 1);
    const b = matrix(3, width, 2);
    for (const bits of [3, 7] as const) {
      // One piece over many blocks: bit for bit, the same sums in the same order.
      const one = bothWays([{ values: a, offset: 0, rows: 70_001 }], width, lanes, bits);
      expect(one.kernel).toEqual(one.scalar);
      expect(one.kernel[3]!.min).toBeLessThan(0);
      // Several pieces: one call, one shift, where the reference shifts each piece by the mean so far.
      const pieces = [
        { values: a, offset: 0, rows: 70_001 },
        { values: b, offset: width, rows: 2 },
        { values: a, offset: 5 * width, rows: 0 },
      ];
      const many = bothWays(pieces, width, lanes, bits);
      expectSameFigures(many.kernel, many.scalar, 1e-12);
      expect(many.kernel[3]!.rows).toBe(70_003);
    }
  });

  it('counts zeros, subnormals, infinities and NaN as the scalar loop does', () => {
    const width = 8;
    const rows = 5_000;
    const values = matrix(rows, width, 3);
    const next = random(4);
    for (let i = 0; i < 600; i++) {
      const at = Math.floor(next() * rows) * width + Math.floor(next() * width);
      values[at] = SPECIALS[i % SPECIALS.length]!;
    }
    values[7 * width + 2] = -Infinity;
    const { scalar, kernel } = bothWays([{ values, offset: 0, rows }], width, [0, 1, 2, 3, 4, 5, 6, 7]);
    expectSameFigures(kernel, scalar, 1e-12);
    expect(kernel[2]!.min).toBeNull(); // -Infinity: JSON has none
    expect(kernel.reduce((n, s) => n + s.nans, 0)).toBeGreaterThan(0);
  });

  it('counts null elements as nulls, through the kernel and the scalar lanes alike', () => {
    const width = 6; // lanes 0–3 through the kernel, 4–5 through the scalar loop
    const rows = 3_001;
    const values = matrix(rows, width, 13);
    const next = random(14);
    const validityOffset = 5;
    const validity = new Uint8Array((validityOffset + rows * width + 7) >>> 3).fill(0xff);
    for (let i = 0; i < rows * width; i++) {
      const dense = i % width === 1; // lane 1 is mostly null, the others now and then
      if (next() < (dense ? 0.9 : 0.02))
        validity[(validityOffset + i) >>> 3]! &= ~(1 << ((validityOffset + i) & 7));
    }
    values[width * 10 + 2] = NaN; // a NaN that is not null
    const kernel = Array.from({ length: width }, () => makeColumnAccumulator(3));
    observeLanes(
      [{ values, offset: width, rows: rows - 1, validity, validityOffset }],
      width,
      kernel.map((accumulator, lane) => ({ accumulator, lane })),
    );
    kernel.forEach((acc, lane) => {
      const reference = makeColumnAccumulator(3);
      const laneBits = new Uint8Array(Math.ceil(rows / 8));
      for (let j = 0; j < rows - 1; j++) {
        const bit = validityOffset + width + j * width + lane;
        if ((validity[bit >>> 3]! >>> (bit & 7)) & 1) laneBits[j >>> 3]! |= 1 << (j & 7);
      }
      reference.observe(values, {
        offset: width,
        length: rows - 1,
        stride: width,
        lane,
        validity: laneBits,
      });
      expectSameFigures([acc.sketch()], [reference.sketch()], 1e-12);
    });
    expect(kernel[1]!.sketch().nulls).toBeGreaterThan(2_000);
    expect(kernel[2]!.sketch().nans).toBe(1);
  });

  it('takes lanes it cannot group (missing neighbours, one accumulator twice) through the scalar loop', () => {
    const width = 6;
    const values = matrix(1_000, width, 5);
    const piece = { values, offset: 0, rows: 1_000 };
    const { scalar, kernel } = bothWays([piece], width, [0, 1, 2, 4, 5]);
    expect(kernel).toEqual(scalar);
    const shared = makeColumnAccumulator(3);
    const twice: Array<{ accumulator: ColumnAccumulator; lane: number }> = [0, 1, 2, 3].map((lane) => ({
      accumulator: lane === 3 ? shared : makeColumnAccumulator(3),
      lane,
    }));
    twice[0]!.accumulator = shared;
    observeLanes([piece], width, twice);
    const reference = makeColumnAccumulator(3);
    reference.observe(values, { offset: 0, length: 1_000, stride: width, lane: 0 });
    reference.observe(values, { offset: 0, length: 1_000, stride: width, lane: 3 });
    expect(shared.sketch().count).toBe(2_000);
    expect(shared.sketch().buckets).toEqual(reference.sketch().buckets);
  });

  it('goes on from what an accumulator already holds, and refuses lanes and pieces outside the matrix', () => {
    const width = 4;
    const values = matrix(2_000, width, 6);
    const accs = [0, 1, 2, 3].map(() => makeColumnAccumulator(3));
    const refs = [0, 1, 2, 3].map(() => makeColumnAccumulator(3));
    for (const [offset, rows] of [
      [0, 1_000],
      [4_000, 1_000],
    ] as const) {
      observeLanes(
        [{ values, offset, rows }],
        width,
        accs.map((accumulator, lane) => ({ accumulator, lane })),
      );
      refs.forEach((acc, lane) => acc.observe(values, { offset, length: rows, stride: width, lane }));
    }
    expect(accs.map((a) => a.sketch())).toEqual(refs.map((a) => a.sketch()));
    expect(() => observeLanes([], width, [{ accumulator: accs[0]!, lane: 4 }])).toThrow(RangeError);
    expect(() =>
      observeLanes(
        [{ values, offset: 4, rows: 2_000 }],
        width,
        accs.map((accumulator, lane) => ({ accumulator, lane })),
      ),
    ).toThrow(/overrun/);
    // Refused before any lane counts: the scalar lanes (4, 5) as well as the kernel's.
    const six = matrix(10, 6, 15);
    const untouched = [0, 1, 2, 3, 4, 5].map(() => makeColumnAccumulator(3));
    expect(() =>
      observeLanes(
        [
          { values: six, offset: 0, rows: 10 },
          { values: six, offset: 6, rows: 10 },
        ],
        6,
        untouched.map((accumulator, lane) => ({ accumulator, lane })),
      ),
    ).toThrow(/overrun/);
    expect(untouched.map((a) => a.sketch().rows)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('keeps each accumulator right while its tables stay in the kernel between calls', () => {
    const width = 8;
    const values = matrix(4_000, width, 8);
    const make = () => Array.from({ length: width }, () => makeColumnAccumulator(3));
    const lanesOf = (accs: ColumnAccumulator[]) => accs.map((accumulator, lane) => ({ accumulator, lane }));
    const piece = (r0: number, rows: number) => ({ values, offset: r0 * width, rows });
    // Two chunks' statistics taking turns, as two chunks in flight do; one read, reset, observed alone.
    const a = make();
    const b = make();
    observeLanes([piece(0, 1_000)], width, lanesOf(a));
    observeLanes([piece(0, 1_000)], width, lanesOf(a));
    observeLanes([piece(1_000, 500)], width, lanesOf(b));
    observeLanes([piece(1_500, 500)], width, lanesOf(a));
    const midway = a[2]!.sketch();
    a[5]!.observe(values, { offset: 2_000 * width, length: 100, stride: width, lane: 5 });
    observeLanes([piece(2_100, 900)], width, lanesOf(a));
    b[1]!.reset();
    observeLanes([piece(3_000, 1_000)], width, lanesOf(b));

    const reference = (lane: number, ranges: Array<[number, number]>) => {
      const acc = makeColumnAccumulator(3);
      for (const [r0, rows] of ranges)
        acc.observe(values, { offset: r0 * width, length: rows, stride: width, lane });
      return acc.sketch();
    };
    expectSameFigures(
      [midway],
      [
        reference(2, [
          [0, 1_000],
          [0, 1_000],
          [1_500, 500],
        ]),
      ],
      1e-12,
    );
    for (let lane = 0; lane < width; lane++) {
      expectSameFigures(
        [a[lane]!.sketch()],
        [
          reference(lane, [
            [0, 1_000],
            [0, 1_000],
            [1_500, 500],
            [2_000, lane === 5 ? 100 : 0],
            [2_100, 900],
          ]),
        ],
        1e-12,
      );
      const afterReset: Array<[number, number]> =
        lane === 1
          ? [[3_000, 1_000]]
          : [
              [1_000, 500],
              [3_000, 1_000],
            ];
      expectSameFigures([b[lane]!.sketch()], [reference(lane, afterReset)], 1e-12);
    }
  });

  it('is what the run report uses for packed feature columns, with the same figures as lane by lane', () => {
    const width = 8;
    const rows = 3_000;
    const values = matrix(rows, width, 7);
    const type = new FixedSizeList(width, new Field('item', new Float32(), false));
    const child = makeData({ type: new Float32(), length: rows * width, data: values });
    const features = makeData({ type, length: rows, nullCount: 0, child });
    const batch = new RecordBatch({ features });
    const names = Array.from({ length: width }, (_, j) => `f${j}`);
    const stats = makeBatchStats({
      features: names.map((name, lane) => ({ name, kind: 'lane', column: 'features', lane, width })),
      scores: [],
      agreement: [],
    });
    stats.observeFeatures([batch.slice(0, 1_000), batch.slice(1_000, rows)]);
    const taken = stats.take();
    names.forEach((name, lane) => {
      const reference = makeColumnAccumulator(3);
      reference.observe(values, { offset: 0, length: rows, stride: width, lane });
      expect(taken.features[name]).toEqual(reference.sketch());
    });
  });
});

describe('observeColumns (contiguous float32 columns through the kernel)', () => {
  function column(length: number, seed: number, scale: number): Float32Array {
    const m = matrix(length, 1, seed);
    for (let i = 0; i < length; i++) m[i] = m[i]! * scale;
    return m;
  }

  it('gives each column the scalar loop’s counts, buckets and extremes, whatever the tail', () => {
    const cols = [column(10_001, 1, 1), column(7, 2, -3e5), column(200_003, 3, 1e-30), column(1, 4, 2)];
    cols[0]![17] = 0;
    cols[0]![18] = -Infinity;
    cols[0]![10_000] = NaN;
    cols[2]![5] = 1e-42;
    cols[2]![200_002] = Infinity;
    for (const bits of [3, 7] as const) {
      const pieces = cols.map((values, c) => [
        { values, offset: 0, length: values.length - (c === 2 ? 3 : 0) },
        ...(c === 2 ? [{ values, offset: values.length - 3, length: 3 }] : []),
        { values, offset: 0, length: 0 },
      ]);
      const scalar = cols.map(() => makeColumnAccumulator(bits));
      scalar.forEach((acc, c) => {
        for (const p of pieces[c]!) acc.observe(p.values, { offset: p.offset, length: p.length });
      });
      const kernel = cols.map(() => makeColumnAccumulator(bits));
      observeColumns(kernel.map((accumulator, c) => ({ accumulator, pieces: pieces[c]! })));
      expectSameFigures(
        kernel.map((a) => a.sketch()),
        scalar.map((a) => a.sketch()),
        1e-12,
      );
      expect(kernel[0]!.sketch().nans).toBe(1);
      expect(kernel[2]!.sketch().rows).toBe(200_003);
    }
  });

  it('shares the kernel with packed lanes, and one accumulator named twice gets both its pieces', () => {
    const width = 4;
    const values = matrix(3_000, width, 9);
    const lanes = [0, 1, 2, 3].map(() => makeColumnAccumulator(3));
    const col = column(5_000, 10, 4);
    const a = makeColumnAccumulator(3);
    const reference = makeColumnAccumulator(3);
    for (let round = 0; round < 3; round++) {
      observeLanes(
        [{ values, offset: round * 1_000 * width, rows: 1_000 }],
        width,
        lanes.map((accumulator, lane) => ({ accumulator, lane })),
      );
      observeColumns([
        { accumulator: a, pieces: [{ values: col, offset: round * 1_000, length: 500 }] },
        { accumulator: a, pieces: [{ values: col, offset: round * 1_000 + 500, length: 500 }] },
      ]);
      reference.observe(col, { offset: round * 1_000, length: 1_000 });
    }
    expectSameFigures([a.sketch()], [reference.sketch()], 1e-12);
    lanes.forEach((acc, lane) => {
      const ref = makeColumnAccumulator(3);
      ref.observe(values, { offset: 0, length: 3_000, stride: width, lane });
      expectSameFigures([acc.sketch()], [ref.sketch()], 1e-12);
    });
    expect(() =>
      observeColumns([{ accumulator: a, pieces: [{ values: col, offset: 4_999, length: 2 }] }]),
    ).toThrow(/overrun/);
  });

  it('is what the run report uses for float32 feature columns, nulls or not', () => {
    const rows = 4_001;
    const f0 = column(rows, 11, 1);
    const f1 = column(rows, 12, -7);
    const valid = new Uint8Array(Math.ceil(rows / 8)).fill(0xff);
    valid[0] = 0b11111010; // rows 0 and 2 of f1 are null
    const data0 = makeData({ type: new Float32(), length: rows, nullCount: 0, data: f0 });
    const data1 = makeData({ type: new Float32(), length: rows, nullCount: 2, data: f1, nullBitmap: valid });
    const batch = new RecordBatch({ f0: data0, f1: data1 });
    const stats = makeBatchStats({
      features: ['f0', 'f1'].map((name) => ({ name, kind: 'column' as const, column: name })),
      scores: [],
      agreement: [],
    });
    stats.observeFeatures([batch.slice(0, 1_001), batch.slice(1_001, rows)]);
    const taken = stats.take();
    const ref0 = makeColumnAccumulator(3);
    ref0.observe(f0, { offset: 0, length: rows });
    expectSameFigures([taken.features.f0!], [ref0.sketch()], 1e-12);
    const ref1 = makeColumnAccumulator(3);
    ref1.observe(f1, { offset: 0, length: rows, validity: valid });
    expectSameFigures([taken.features.f1!], [ref1.sketch()], 1e-12);
    expect(taken.features.f1!.nulls).toBe(2);
  });
});
