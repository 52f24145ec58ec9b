import {
  Bool,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  type RecordBatch,
  Utf8,
  makeData,
  Table,
  makeVector,
  vectorFromArray,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../helpers/thrown.js';
import { FeatureMappingError } from '../../../services/scoring/errors/feature-mapping-error.js';
import { resolveFeatureMapping } from '../../../services/scoring/feature-mapping.js';
import { type RejectedRows, fillFeatures } from '../../../services/scoring/fill-features.js';
import type { ModelMetadata } from '../../../services/scoring/inference-host.js';

const model = (width: number | string = 3, type = 'float32'): ModelMetadata => ({
  inputs: [{ name: 'features', isTensor: true, type, shape: ['N', width] }],
  outputs: [{ name: 'score', isTensor: true, type: 'float32', shape: ['N', 1] }],
});

/** A batch from plain arrays via Arrow's own builders (nulls as null). */
function batch(columns: Record<string, { values: unknown[]; type: DataType }>): RecordBatch {
  const vectors = Object.fromEntries(
    Object.entries(columns).map(([k, c]) => [k, vectorFromArray(c.values, c.type)]),
  );
  return new Table(vectors).batches[0]!;
}

const mappingError = (run: () => unknown): FeatureMappingError => thrown(FeatureMappingError, run);

const mixed = () =>
  batch({
    id: { values: [10n, 11n, 12n], type: new Int64() },
    a: { values: [1, 2, 3], type: new Int32() },
    b: { values: [0.5, 1.5, 2.5], type: new Float64() },
    c: { values: [true, false, true], type: new Bool() },
    name: { values: ['x', 'y', 'z'], type: new Utf8() },
  });

describe('resolveFeatureMapping', () => {
  it('maps explicit columns, casting ints, doubles and bools into a float32 row-major tensor', () => {
    const data = mixed();
    const [input] = resolveFeatureMapping(data.schema, model(), {
      features: { columns: ['a', 'b', 'c'], nulls: 'fail' },
    });
    expect(input).toMatchObject({ input: 'features', type: 'float32', width: 3, rank: 2 });
    const target = new Float32Array(3 * 3);
    fillFeatures(target, 0, data, input!);
    expect(Array.from(target)).toEqual([1, 0.5, 1, 2, 1.5, 0, 3, 2.5, 1]);
  });

  it('maps columns matching a regex in schema order', () => {
    const data = mixed();
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { columnsMatching: '^[ab]$', nulls: 'fail' },
    });
    expect(input!.source).toEqual({ kind: 'columns', columns: ['a', 'b'] });
  });

  it('defaults to every numeric non-passthrough column when the count matches, and says so', () => {
    const data = mixed();
    const log: string[] = [];
    const [input] = resolveFeatureMapping(data.schema, model(3), undefined, {
      passthrough: ['id'],
      log: (m) => log.push(m),
    });
    expect(input!.source).toEqual({ kind: 'columns', columns: ['a', 'b', 'c'] });
    expect(log[0]).toContain('a, b, c');
  });

  it('refuses a default that does not fit, naming the input', () => {
    const error = mappingError(() =>
      resolveFeatureMapping(mixed().schema, model(64), undefined, { passthrough: ['id'] }),
    );
    expect(error.code).toBe('FEATURE_MAPPING_AMBIGUOUS');
    expect(error.message).toContain('features');
  });

  it('names a missing column, a width mismatch, an uncastable type and an unknown input', () => {
    const schema = mixed().schema;
    const missing = mappingError(() =>
      resolveFeatureMapping(schema, model(), { features: { columns: ['a', 'nope', 'b'], nulls: 'fail' } }),
    );
    expect([missing.code, missing.where.column]).toEqual(['FEATURE_COLUMN_MISSING', 'nope']);
    const width = mappingError(() =>
      resolveFeatureMapping(schema, model(4), { features: { columns: ['a', 'b', 'c'], nulls: 'fail' } }),
    );
    expect([width.code, width.where.input]).toEqual(['FEATURE_WIDTH_MISMATCH', 'features']);
    const text = mappingError(() =>
      resolveFeatureMapping(schema, model(), { features: { columns: ['a', 'b', 'name'], nulls: 'fail' } }),
    );
    expect([text.code, text.where.column]).toEqual(['FEATURE_TYPE_UNSUPPORTED', 'name']);
    const unknown = mappingError(() =>
      resolveFeatureMapping(schema, model(), { feats: { columns: ['a'], nulls: 'fail' } }),
    );
    expect(unknown.code).toBe('FEATURE_INPUT_UNKNOWN');
  });

  it('fills int64 inputs from integer columns exactly', () => {
    const data = batch({
      ids: { values: [2n ** 60n, -3n], type: new Int64() },
      k: { values: [7, 8], type: new Int32() },
    });
    const [input] = resolveFeatureMapping(data.schema, model(2, 'int64'), {
      features: { columns: ['ids', 'k'], nulls: 'fail' },
    });
    const target = new BigInt64Array(4);
    fillFeatures(target, 0, data, input!);
    expect(Array.from(target)).toEqual([2n ** 60n, 7n, -3n, 8n]);
  });
});

describe('fillFeatures from many float32 columns', () => {
  it('moves every bit of each value (NaN payloads, -0) and overwrites stale tensor contents', () => {
    // Nine columns: c0-c3 take the four-at-a-time path, c4 has a null, c5 is float64, c6-c8 go one by one.
    const rows = 5;
    const nanBits = 0x7fa00001; // a signalling NaN with a payload: Arrow's builders would canonicalize it
    const bits = (j: number, r: number): number =>
      j === 2 && r === 3
        ? nanBits
        : j === 1 && r === 2
          ? 0x80000000 /* -0 */
          : new Uint32Array(new Float32Array([j * 10 + r]).buffer)[0]!;
    const vectors: Record<string, Vector> = {};
    for (let j = 0; j < 9; j++) {
      if (j === 4) vectors.c4 = vectorFromArray([40, 41, null, 43, 44], new Float32());
      else if (j === 5) vectors.c5 = vectorFromArray([50, 51, 52, 53, 54], new Float64());
      else {
        const values = new Float32Array(
          new Uint32Array(Array.from({ length: rows }, (_, r) => bits(j, r))).buffer,
        );
        vectors[`c${j}`] = makeVector(makeData({ type: new Float32(), length: rows, data: values }));
      }
    }
    const data = new Table(vectors).batches[0]!.slice(1); // a slice: values start one row in
    const [input] = resolveFeatureMapping(data.schema, model(9), {
      features: { columns: Object.keys(vectors), nulls: { fill: -1 } },
    });
    const target = new Float32Array(9 * 5).fill(99); // row 0 keeps its stale 99s; rows 1-4 are written
    fillFeatures(target, 1, data, input!);
    const got = new Uint32Array(target.buffer);
    const f32 = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0]!;
    const expected = new Uint32Array(9 * 5).fill(f32(99));
    for (let r = 1; r < rows; r++) {
      for (let j = 0; j < 9; j++) {
        expected[r * 9 + j] = j === 4 ? f32(r === 2 ? -1 : 40 + r) : j === 5 ? f32(50 + r) : bits(j, r);
      }
    }
    expect(Array.from(got, (b) => b.toString(16))).toEqual(Array.from(expected, (b) => b.toString(16)));
  });
});

describe('fillFeatures null policies', () => {
  const withNulls = () =>
    batch({
      a: { values: [1, null, 3], type: new Float32() },
      b: { values: [4, 5, null], type: new Float64() },
    });

  it('fail: names the column and the row', () => {
    const data = withNulls();
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { columns: ['a', 'b'], nulls: 'fail' },
    });
    const error = mappingError(() => fillFeatures(new Float32Array(6), 0, data, input!));
    expect(error.code).toBe('FEATURE_NULL');
    expect(error.where).toMatchObject({ column: 'a', row: 1 });
  });

  it('fill: writes the value', () => {
    const data = withNulls();
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { columns: ['a', 'b'], nulls: { fill: -1 } },
    });
    const target = new Float32Array(6);
    fillFeatures(target, 0, data, input!);
    expect(Array.from(target)).toEqual([1, 4, -1, 5, 3, -1]);
  });

  it('reject: reports each refused row once, with the column', () => {
    const data = withNulls();
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { columns: ['a', 'b'], nulls: 'reject' },
    });
    const rejected: RejectedRows = { rows: [], columns: [] };
    fillFeatures(new Float32Array(6), 0, data, input!, rejected);
    expect(rejected).toEqual({ rows: [1, 2], columns: ['a', 'b'] });
  });
});

describe('rejected rows', () => {
  it('lists each refused row once, ascending, whichever column was null first', () => {
    const data = batch({
      a: { values: [1, 2, null], type: new Float32() },
      b: { values: [null, 5, null], type: new Float32() },
    });
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { columns: ['a', 'b'], nulls: 'reject' },
    });
    const rejected: RejectedRows = { rows: [], columns: [] };
    fillFeatures(new Float32Array(6), 0, data, input!, rejected, 10);
    expect(rejected).toEqual({ rows: [10, 12], columns: ['b', 'a'] });
  });
});

describe('fillFeatures from list columns', () => {
  it('copies a fixed-size list of float32 as one block, at the target row offset', () => {
    const child = makeData({ type: new Float32(), length: 6, data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    const type = new FixedSizeList(3, new Field('item', new Float32(), false));
    const emb = makeData({ type, length: 2, nullCount: 0, child });
    const data = new Table({ emb: makeVector(emb) }).batches[0]!;
    const [input] = resolveFeatureMapping(data.schema, model(3), {
      features: { listColumn: 'emb', nulls: 'fail' },
    });
    const target = new Float32Array(9);
    fillFeatures(target, 1, data, input!);
    expect(Array.from(target)).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 6]);
    // A slice of the batch reads its own rows.
    const tail = data.slice(1, 2);
    const again = new Float32Array(3);
    fillFeatures(again, 0, tail, input!);
    expect(Array.from(again)).toEqual([4, 5, 6]);
  });

  it('reads variable lists row by row and names a row of the wrong width', () => {
    const data = batch({
      v: { values: [[1, 2], [3, 4], [5]], type: new List(new Field('item', new Float64(), true)) },
    });
    const [input] = resolveFeatureMapping(data.schema, model(2), {
      features: { listColumn: 'v', nulls: 'fail' },
    });
    const target = new Float32Array(6);
    const error = mappingError(() => fillFeatures(target, 0, data, input!));
    expect(error.where).toMatchObject({ column: 'v', row: 2 });
    expect(Array.from(target.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    const sliced = data.slice(1, 2);
    const two = new Float32Array(2);
    fillFeatures(two, 0, sliced, input!);
    expect(Array.from(two)).toEqual([3, 4]);
  });

  it('takes a list column named like the model input by default', () => {
    const data = batch({
      features: { values: [[1, 2, 3]], type: new List(new Field('item', new Float32(), true)) },
    });
    const [input] = resolveFeatureMapping(data.schema, model(3), undefined);
    expect(input!.source).toEqual({ kind: 'list', column: 'features' });
  });
});
