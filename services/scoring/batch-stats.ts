import { type Data, DataType, type RecordBatch, type Vector } from 'apache-arrow';
import type { AgreementSketch, ColumnSketch, SegmentStats } from '../../schemas/run-report.js';
import { makeAgreementAccumulator } from '../../jobs/report/agreement-sketch.js';
import {
  type ColumnAccumulator,
  type ColumnPiece,
  type MatrixPiece,
  makeColumnAccumulator,
  observeColumns,
  observeLanes,
} from '../../jobs/report/column-sketch.js';
import type { ResolvedInput } from './feature-mapping.js';

/** Where a feature column's values are in the decoded rows: a column, or one lane of a packed list column. */
export type FeatureSource =
  | { name: string; kind: 'column'; column: string }
  | { name: string; kind: 'lane'; column: string; lane: number; width: number }
  | { name: string; kind: 'list'; column: string };

/** The feature columns the models read, each once, named as the user knows them (packed ones by origin). */
export function featureSources(inputs: readonly ResolvedInput[]): FeatureSource[] {
  const sources = new Map<string, FeatureSource>();
  for (const input of inputs) {
    if (input.source.kind === 'columns') {
      for (const column of input.source.columns)
        if (!sources.has(column)) sources.set(column, { name: column, kind: 'column', column });
      continue;
    }
    const column = input.source.column;
    if (input.packedFrom) {
      input.packedFrom.forEach((name, lane) => {
        if (!sources.has(name)) sources.set(name, { name, kind: 'lane', column, lane, width: input.width });
      });
    } else if (!sources.has(column)) {
      // A list column the user brought (an embedding): one column's worth of figures over every element.
      sources.set(column, { name: column, kind: 'list', column });
    }
  }
  return [...sources.values()];
}

/** A champion output column and the same column of a challenger, compared row by row. */
export interface AgreementPair {
  challenger: string;
  column: string;
  championColumn: string;
  challengerColumn: string;
  threshold: number;
}

export interface BatchStatsPlan {
  features: readonly FeatureSource[];
  /** Output columns whose values are summarized (champion's, then challengers' `<name>.<column>`). */
  scores: readonly string[];
  agreement: readonly AgreementPair[];
}

/** Mantissa bits of the buckets: features need PSI bins (3), scores their quantiles too (7: within 0.8 %). */
const FEATURE_BITS = 3;
const SCORE_BITS = 7;

/**
 * The run report's statistics of a stream of scored calls, gathered on the thread that maps the rows
 * (never the inference thread): every input row's features as decoded, every scored row's outputs, and
 * each challenger's agreement with the champion. `take()` hands over what was gathered since the last take
 * (one segment's worth) and starts afresh, so a resumed chunk never counts a row twice.
 */
export function makeBatchStats(plan: BatchStatsPlan) {
  const features = plan.features.map((source) => ({ source, acc: makeColumnAccumulator(FEATURE_BITS) }));
  const scores = plan.scores.map((name) => ({ name, acc: makeColumnAccumulator(SCORE_BITS) }));
  const agreement = plan.agreement.map((pair) => ({ pair, acc: makeAgreementAccumulator(pair.threshold) }));
  let scratch = new Float64Array(0);

  // Packed lanes by their list column: each call's slices go through `observeLanes` together, so the
  // row-major matrix is read four lanes at a time instead of once per lane.
  const packed = new Map<
    string,
    { width: number; lanes: Array<{ accumulator: ColumnAccumulator; lane: number }> }
  >();
  for (const { source, acc } of features) {
    if (source.kind !== 'lane') continue;
    const group = packed.get(source.column) ?? { width: source.width, lanes: [] };
    group.lanes.push({ accumulator: acc, lane: source.lane });
    packed.set(source.column, group);
  }
  const columns = features.filter(({ source }) => source.kind === 'column');
  const lists = features.filter(({ source }) => source.kind === 'list');

  // Float32 columns without nulls go through `observeColumns` together, a call's slices at once.
  function observeColumnsOf(slices: readonly RecordBatch[]): void {
    const contiguous: Array<{ accumulator: ColumnAccumulator; pieces: ColumnPiece[] }> = [];
    for (const { source, acc } of columns) {
      const pieces: ColumnPiece[] = [];
      for (const slice of slices) {
        const vector = slice.getChild(source.column);
        if (!vector) continue;
        for (const data of vector.data as Data[]) {
          const values = data.values as unknown;
          // A sliced Data's values start at its first element.
          if (data.nullCount === 0 && values instanceof Float32Array)
            pieces.push({ values, offset: 0, length: data.length });
          else observePrimitive(acc, data);
        }
      }
      contiguous.push({ accumulator: acc, pieces });
    }
    observeColumns(contiguous);
  }

  function observePacked(slices: readonly RecordBatch[]): void {
    for (const [column, { width, lanes }] of packed) {
      const pieces: MatrixPiece[] = [];
      for (const slice of slices) {
        const vector = slice.getChild(column);
        if (!vector) continue;
        for (const data of vector.data as Data[]) {
          const child = data.children[0] as Data | undefined;
          if (!child) continue;
          // A packed feature row (DuckDB's FLOAT[n]): a row-major child, which a sliced batch keeps starting
          // at its first row.
          const values = child.values as unknown;
          if (data.nullCount === 0 && values instanceof Float32Array) {
            // Null elements (a nullable feature's) are counted from the child's bitmap, at its offset.
            pieces.push({
              values,
              offset: 0,
              rows: data.length,
              ...(child.nullCount > 0 && child.nullBitmap
                ? { validity: child.nullBitmap, validityOffset: child.offset }
                : {}),
            });
            continue;
          }
          for (const { accumulator, lane } of lanes)
            observeLaneWithNulls(accumulator, data, child, width, lane);
        }
      }
      observeLanes(pieces, width, lanes);
    }
  }

  function observeLaneWithNulls(
    acc: ColumnAccumulator,
    data: Data,
    child: Data,
    width: number,
    lane: number,
  ) {
    const values = child.values as Float32Array;
    if (child.nullCount === 0 && data.nullCount === 0) {
      acc.observe(values, { offset: 0, length: data.length, stride: width, lane });
      return;
    }
    if (scratch.length < data.length) scratch = new Float64Array(data.length);
    const validity = new Uint8Array(Math.ceil(data.length / 8));
    for (let i = 0; i < data.length; i++) {
      const at = i * width + lane;
      if (isNull(data, i) || isNull(child, at)) continue;
      validity[i >> 3]! |= 1 << (i & 7);
      scratch[i] = values[at]!;
    }
    acc.observe(scratch, { offset: 0, length: data.length, validity, validityOffset: 0 });
  }

  function observeList(source: FeatureSource, acc: ColumnAccumulator, batch: RecordBatch) {
    const vector = batch.getChild(source.column);
    if (!vector) return;
    for (const data of vector.data as Data[]) {
      const child = data.children[0] as Data | undefined;
      if (!child) continue;
      // A list column the user brought (an embedding): every element of every row (a null element counts
      // as a null; a null row's elements are not read).
      const offsets = data.valueOffsets as Int32Array | undefined;
      const fixed = DataType.isFixedSizeList(data.type);
      const width = fixed ? (data.type as { listSize: number }).listSize : 0;
      const start = fixed ? 0 : offsets![0]!;
      const end = fixed ? data.length * width : offsets![data.length]!;
      observePrimitive(acc, child, start, end - start);
    }
  }

  return {
    /** The features of a call's input rows (its batch slices), every row, refused ones included. */
    observeFeatures(slices: readonly RecordBatch[]): void {
      observePacked(slices);
      observeColumnsOf(slices);
      for (const slice of slices) for (const { source, acc } of lists) observeList(source, acc, slice);
    },
    /** A call's output columns (scored rows only), by name. */
    observeOutputs(columns: Readonly<Record<string, Vector>>): void {
      for (const { name, acc } of scores) {
        const vector = columns[name];
        if (vector) for (const data of vector.data as Data[]) observeOutput(acc, data);
      }
      for (const { pair, acc } of agreement) {
        const x = columns[pair.championColumn]?.data[0] as Data | undefined;
        const y = columns[pair.challengerColumn]?.data[0] as Data | undefined;
        if (!x || !y || x.children.length > 0 || y.children.length > 0) continue;
        acc.observe(x.values as Float32Array, y.values as Float32Array, { offset: 0, length: x.length });
      }
    },
    take(): SegmentStats {
      const sketches = <T extends { acc: { sketch(): ColumnSketch; reset(): void } }>(
        entries: readonly T[],
        nameOf: (entry: T) => string,
      ): Record<string, ColumnSketch> =>
        Object.fromEntries(
          entries.map((entry) => {
            const sketch = entry.acc.sketch();
            entry.acc.reset();
            return [nameOf(entry), sketch];
          }),
        );
      const agreed: Record<string, Record<string, AgreementSketch>> = {};
      for (const { pair, acc } of agreement) {
        (agreed[pair.challenger] ??= {})[pair.column] = acc.sketch();
        acc.reset();
      }
      return {
        features: sketches(features, (f) => f.source.name),
        scores: sketches(scores, (s) => s.name),
        agreement: agreed,
      };
    },
  };
}

export type BatchStats = ReturnType<typeof makeBatchStats>;

function isNull(data: Data, index: number): boolean {
  const bitmap = data.nullBitmap;
  if (!bitmap || data.nullCount === 0) return false;
  const bit = data.offset + index;
  return ((bitmap[bit >> 3]! >> (bit & 7)) & 1) === 0;
}

/** A fixed-width numeric Data (its values start at its first element; its bitmap at `data.offset`). */
function observePrimitive(acc: ColumnAccumulator, data: Data, start = 0, length = data.length): void {
  if (DataType.isBool(data.type)) {
    // Bit-packed: figures over 0 and 1.
    if (length > 0) {
      const values = new Uint8Array(length);
      const bits = data.values as Uint8Array;
      for (let i = 0; i < length; i++) {
        const bit = data.offset + start + i;
        values[i] = (bits[bit >> 3]! >> (bit & 7)) & 1;
      }
      acc.observe(values, {
        offset: 0,
        length,
        validity: nullBitmapOf(data),
        validityOffset: data.offset + start,
      });
    }
    return;
  }
  const values = data.values as unknown;
  if (!ArrayBuffer.isView(values)) return;
  acc.observe(values as Float64Array, {
    offset: start,
    length,
    validity: nullBitmapOf(data),
    validityOffset: data.offset + start,
  });
}

function nullBitmapOf(data: Data): Uint8Array | null {
  return data.nullCount > 0 && data.nullBitmap ? data.nullBitmap : null;
}

/** A score column: one value a row, or (a list output) every element of every row. */
function observeOutput(acc: ColumnAccumulator, data: Data): void {
  const child = data.children[0] as Data | undefined;
  if (!child) return observePrimitive(acc, data);
  const width = (data.type as { listSize?: number }).listSize ?? 0;
  observePrimitive(acc, child, 0, data.length * width);
}
