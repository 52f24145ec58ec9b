/**
 * bench:stats — the run report's column sketch on the worker's hot path: nanoseconds per value for a
 * row-major float32 feature matrix read one column at a time (stride 64) and four columns at a time through
 * the SIMD kernel (`observeLanes`, what the report does for packed features), a contiguous float32 column
 * (also through the kernel: `observeColumns`, for separate feature columns), a float64 column, each without and with a validity bitmap. Best of several rounds (the machine is shared).
 * Prints one JSON line per case. Target: <= 3 ns per float32 value.
 *   npx tsx scripts/bench/stats.ts [-- --rows 1000000 --rounds 7 --bits 3]
 */
import { parseArgs } from 'node:util';
import { makeColumnAccumulator, observeColumns, observeLanes } from '../../jobs/report/column-sketch.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '7' },
    bits: { type: 'string', default: '3' },
    batch: { type: 'string', default: '65536' },
  },
});
const rows = Number(args.rows);
const rounds = Number(args.rounds);
const bits = Number(args.bits) === 7 ? 7 : 3;
const batch = Number(args.batch);
const COLUMNS = 64;

function normal(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

// The matrix is a quarter of `rows` (64 columns), so each case reads about `rows` values per round.
const matrixRows = Math.ceil(rows / COLUMNS);
const matrix = new Float32Array(matrixRows * COLUMNS);
for (let i = 0; i < matrix.length; i++) matrix[i] = normal() * 3 + 10;
const column32 = new Float32Array(rows);
for (let i = 0; i < rows; i++) column32[i] = normal() * 3 + 10;
const column64 = new Float64Array(rows);
for (let i = 0; i < rows; i++) column64[i] = normal() * 3 + 10;
// Element-wise validity of the matrix: one nullable feature (lane 5, a fifth of its rows null).
const matrixValidity = new Uint8Array(Math.ceil(matrix.length / 8)).fill(0xff);
for (let i = 5; i < matrix.length; i += COLUMNS)
  if (Math.random() < 0.2) matrixValidity[i >> 3]! &= ~(1 << (i & 7));
const validity = new Uint8Array(Math.ceil(rows / 8));
for (let i = 0; i < rows; i++) if (Math.random() > 0.05) validity[i >> 3]! |= 1 << (i & 7);

interface Case {
  name: string;
  values: number;
  run(): void;
}

const strided = Array.from({ length: COLUMNS }, () => makeColumnAccumulator(bits));
const single = makeColumnAccumulator(bits);
const cases: Case[] = [
  {
    name: 'float32 stride-64 matrix',
    values: matrix.length,
    run() {
      for (let r0 = 0; r0 < matrixRows; r0 += batch) {
        const length = Math.min(batch, matrixRows - r0);
        for (let c = 0; c < COLUMNS; c++)
          strided[c]!.observe(matrix, { offset: r0 * COLUMNS, length, stride: COLUMNS, lane: c });
      }
    },
  },
  ...(
    [
      ['float32 stride-64 matrix, observeLanes (SIMD kernel)', null],
      ['float32 stride-64 matrix, observeLanes (SIMD kernel), one nullable lane', matrixValidity],
    ] as const
  ).map(([name, elementValidity]) => ({
    name,
    values: matrix.length,
    run() {
      const lanes = strided.map((accumulator, lane) => ({ accumulator, lane }));
      for (let r0 = 0; r0 < matrixRows; r0 += batch) {
        const rows = Math.min(batch, matrixRows - r0);
        const piece = { values: matrix, offset: r0 * COLUMNS, rows, validity: elementValidity };
        observeLanes([piece], COLUMNS, lanes);
      }
    },
  })),
  {
    name: 'float32 stride-64 matrix, validity',
    values: matrix.length,
    run() {
      for (let r0 = 0; r0 < matrixRows; r0 += batch) {
        const length = Math.min(batch, matrixRows - r0);
        for (let c = 0; c < COLUMNS; c++)
          strided[c]!.observe(matrix, {
            offset: r0 * COLUMNS,
            length,
            stride: COLUMNS,
            lane: c,
            validity,
            validityOffset: r0,
          });
      }
    },
  },
  {
    name: 'float32 contiguous, observeColumns (SIMD kernel)',
    values: rows,
    run() {
      for (let r0 = 0; r0 < rows; r0 += batch) {
        const length = Math.min(batch, rows - r0);
        observeColumns([{ accumulator: single, pieces: [{ values: column32, offset: r0, length }] }]);
      }
    },
  },
  ...(
    [
      ['float32 contiguous', column32, false],
      ['float32 contiguous, validity', column32, true],
      ['float64 contiguous', column64, false],
      ['float64 contiguous, validity', column64, true],
    ] as const
  ).map(([name, values, withValidity]) => ({
    name,
    values: rows,
    run() {
      for (let r0 = 0; r0 < rows; r0 += batch) {
        const length = Math.min(batch, rows - r0);
        single.observe(values, {
          offset: r0,
          length,
          validity: withValidity ? validity : null,
          validityOffset: r0,
        });
      }
    },
  })),
];

for (const c of cases) {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const t0 = process.hrtime.bigint();
    c.run();
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, ns / c.values);
  }
  console.log(
    JSON.stringify({ case: c.name, bits, batch, values: c.values, nsPerValue: Number(best.toFixed(3)) }),
  );
}
