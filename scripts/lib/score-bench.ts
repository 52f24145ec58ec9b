import {
  Field,
  FixedSizeList,
  Float32,
  Int64,
  RecordBatch,
  Schema,
  Struct,
  makeData,
  type Data,
} from 'apache-arrow';
import * as ort from 'onnxruntime-node';

/** mulberry32: the same data on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `rows` rows of `width` float32 feature columns plus an int64 id, as 2,048-row record batches (as the Parquet reader yields). */
export function arrowData(rows: number, width: number): RecordBatch[] {
  const next = random(7);
  const fields = [
    new Field('id', new Int64(), false),
    ...Array.from({ length: width }, (_, j) => new Field(`f${j}`, new Float32(), false)),
  ];
  const schema = new Schema(fields);
  const batches: RecordBatch[] = [];
  for (let start = 0; start < rows; start += 2_048) {
    const length = Math.min(2_048, rows - start);
    const children: Data[] = [
      makeData({
        type: new Int64(),
        length,
        data: BigInt64Array.from({ length }, (_, i) => BigInt(start + i)),
      }),
      ...Array.from({ length: width }, () =>
        makeData({ type: new Float32(), length, data: Float32Array.from({ length }, next) }),
      ),
    ];
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children })),
    );
  }
  return batches;
}

/**
 * The same rows with the features packed into one row-major `features` FixedSizeList<float32> column, as the
 * Parquet reader's `pack` option delivers them.
 */
export function packedArrowData(rows: number, width: number): RecordBatch[] {
  return arrowData(rows, width).map((batch) => {
    const length = batch.numRows;
    const packed = new Float32Array(length * width);
    for (let j = 0; j < width; j++) {
      const column = batch.getChildAt(j + 1)!.data[0]!.values as Float32Array;
      for (let i = 0; i < length; i++) packed[i * width + j] = column[i]!;
    }
    const type = new FixedSizeList(width, new Field('item', new Float32(), false));
    const fields = [batch.schema.fields[0]!, new Field('features', type, false)];
    const children = [
      batch.data.children[0]!,
      makeData({
        type,
        length,
        nullCount: 0,
        child: makeData({ type: new Float32(), length: length * width, data: packed }),
      }),
    ];
    return new RecordBatch(
      new Schema(fields),
      makeData({ type: new Struct(fields), length, nullCount: 0, children }),
    );
  });
}

/** Raw ONNX Runtime on this thread: one in-memory tensor run repeatedly for at least `seconds`. */
export async function rawRowsPerSec(
  session: ort.InferenceSession,
  input: string,
  width: number,
  rows: number,
  seconds: number,
): Promise<number> {
  const data = Float32Array.from({ length: rows * width }, random(rows));
  const feeds = { [input]: new ort.Tensor('float32', data, [rows, width]) };
  await session.run(feeds);
  let runs = 0;
  const started = performance.now();
  while (runs < 2 || performance.now() - started < seconds * 1000) {
    await session.run(feeds);
    runs++;
  }
  return (rows * runs) / ((performance.now() - started) / 1000);
}

/**
 * CPU seconds (all threads of this process: `process.cpuUsage`) that raw ONNX Runtime spends scoring `rows`
 * rows from in-memory tensors in calls of `batch` rows: the floor the engine's CPU per row is compared with.
 */
export async function rawCpuSeconds(
  session: ort.InferenceSession,
  input: string,
  width: number,
  batch: number,
  rows: number,
): Promise<number> {
  const data = Float32Array.from({ length: batch * width }, random(batch));
  const full = { [input]: new ort.Tensor('float32', data, [batch, width]) };
  const rest = rows % batch;
  const tail = { [input]: new ort.Tensor('float32', data.subarray(0, rest * width), [rest, width]) };
  await session.run(full);
  const from = process.cpuUsage();
  for (let done = 0; done + batch <= rows; done += batch) await session.run(full);
  if (rest > 0) await session.run(tail);
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}

/**
 * The fastest batch size of `sizes` for raw ONNX Runtime, with every measurement: each size's rate is the
 * median of `rounds` passes over all the sizes, so a slow spell of the machine lands on every size alike
 * instead of on whichever was being measured.
 */
export async function bestFixedBatch(
  session: ort.InferenceSession,
  input: string,
  width: number,
  sizes: readonly number[],
  seconds: number,
  rounds = 1,
): Promise<{ rows: number; rowsPerSec: number; all: Record<number, number> }> {
  const samples: Record<number, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const size of sizes) {
      (samples[size] ??= []).push(await rawRowsPerSec(session, input, width, size, seconds));
    }
  }
  const all = Object.fromEntries(Object.entries(samples).map(([size, rates]) => [size, median(rates)]));
  const [rows, rowsPerSec] = Object.entries(all).reduce((a, b) => (b[1] > a[1] ? b : a));
  return { rows: Number(rows), rowsPerSec, all };
}

/** The median of some measurements (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
