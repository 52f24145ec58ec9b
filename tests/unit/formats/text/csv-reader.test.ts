import type { RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { planCsvSplits, readBlocks } from '../../../../services/formats/text/text-split.js';
import {
  type CsvReaderOptions,
  makeCsvReader as makeDuckdbCsvReader,
} from '../../../../services/formats/text/csv-duckdb-reader.js';

/** The shipped reader with DuckDB taking every part, however small, so these cases run on its path. */
const makeCsvReader = (options: CsvReaderOptions = {}) =>
  makeDuckdbCsvReader({ minDuckdbBytes: 0, ...options });
import type { BadDataError } from '../../../../services/formats/errors/bad-data-error.js';
import type { ReadPartOptions } from '../../../../services/formats/format-reader.js';
import type { TextReaderOptions } from '../../../../services/formats/text/record-boundaries.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { badDataErrorOf, readText, rowObjects } from '../../../helpers/text-reading.js';

const URI = 's3://bucket/in/data.csv';

function readCsv(
  text: string,
  options: ReadPartOptions = {},
  range?: { start: number; end: number },
  knobs: TextReaderOptions = {},
): Promise<RecordBatch[]> {
  return readText(makeCsvReader(knobs), URI, text, options, range);
}

const readError = (...args: Parameters<typeof readCsv>): Promise<BadDataError> =>
  badDataErrorOf(() => readCsv(...args));
const rows = rowObjects;

describe('CSV reader: types', () => {
  it('infers int64, float64, bool, timestamp and string from the head; empty fields are null', async () => {
    const text = 'id,x,ok,at,name\n1,1.5,true,2024-01-02T03:04:05Z,a\n2,,false,2024-01-02,"b, c"\n,-2e3,,,\n';
    const batches = await readCsv(text);
    const schema = batches[0]!.schema;
    expect(schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'id:Int64',
      'x:Float64',
      'ok:Bool',
      'at:Timestamp<MILLISECOND, UTC>',
      'name:Utf8',
    ]);
    expect(rows(batches)).toEqual([
      { id: 1n, x: 1.5, ok: true, at: Date.UTC(2024, 0, 2, 3, 4, 5), name: 'a' },
      { id: 2n, x: null, ok: false, at: Date.UTC(2024, 0, 2), name: 'b, c' },
      { id: null, x: -2000, ok: null, at: null, name: null },
    ]);
  });

  it('infers the same schema for every part, from the object head rather than the part', async () => {
    // Far from the head, column v holds only integers; the head says float64.
    const text = 'v\n' + '0.5\n'.repeat(10) + '7\n'.repeat(10);
    const storage = makeMemoryStorage({ [URI]: text });
    const size = text.length;
    const read = (s: number, e: number) => storage.read(URI, { start: s, end: e });
    const splits = await planCsvSplits(readBlocks(read, size, 7), size, 20);
    const types = new Set<string>();
    for (const s of splits) {
      const part = { uri: URI, size, range: { kind: 'bytes' as const, start: s.start, end: s.end } };
      for await (const b of makeCsvReader().readPart(storage, part))
        types.add(String(b.schema.fields[0]!.type));
    }
    expect(types).toEqual(new Set(['Float64']));
  });

  it('uses explicit types over inferred ones and keeps a quoted empty string', async () => {
    const batches = await readCsv('a,b\n1,""\n2,\n', { schema: { a: 'float32', b: 'string' } });
    expect(String(batches[0]!.schema.fields[0]!.type)).toBe('Float32');
    expect(rows(batches)).toEqual([
      { a: 1, b: '' },
      { a: 2, b: null },
    ]);
  });

  it('reads int64 beyond 2^53 exactly, and int32', async () => {
    const batches = await readCsv('a,b\n9007199254740993,-5\n', { schema: { b: 'int32' } });
    expect(rows(batches)).toEqual([{ a: 9007199254740993n, b: -5 }]);
  });

  it('projects and orders columns', async () => {
    const batches = await readCsv('a,b,c\n1,2,3\n', { columns: ['c', 'a'] });
    expect(batches[0]!.schema.fields.map((f) => f.name)).toEqual(['c', 'a']);
    expect(rows(batches)).toEqual([{ c: 3n, a: 1n }]);
  });

  it('names columns column_1… without a header, and honours the delimiter', async () => {
    const batches = await readCsv('1;x\n2;y\n', { header: false, delimiter: ';' });
    expect(rows(batches)).toEqual([
      { column_1: 1n, column_2: 'x' },
      { column_1: 2n, column_2: 'y' },
    ]);
  });

  it('batches rows', async () => {
    const batches = await readCsv('a\n' + '1\n'.repeat(10), {}, undefined, { batchRows: 4 });
    expect(batches.map((b) => b.numRows)).toEqual([4, 4, 2]);
  });
});

describe('CSV reader: bad input', () => {
  it('SCHEMA_MISMATCH names an unknown projected column', async () => {
    const error = await readError('a,b\n1,2\n', { columns: ['a', 'zz'] });
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.location).toMatchObject({ uri: URI, column: 'zz' });
  });

  it('CSV_RAGGED_ROW names the row and the byte offset', async () => {
    const text = 'a,b\n1,2\n3,4\n5\n6,7\n';
    const error = await readError(text);
    expect(error.code).toBe('CSV_RAGGED_ROW');
    expect(error.location).toEqual({ uri: URI, row: 2, byteOffset: text.indexOf('5\n'), column: undefined });
    expect(error.message).toContain(URI);
  });

  it('CSV_INVALID for an unterminated quote at the end of the object', async () => {
    const text = 'a,b\n1,2\n3,"open\n4,5\n';
    const error = await readError(text, {}, undefined, { headBytes: 8 });
    expect(error.code).toBe('CSV_INVALID');
    expect(error.message).toMatch(/unterminated/);
    expect(error.location).toMatchObject({ uri: URI, row: 1, byteOffset: text.indexOf('3,"') });
  });

  it('CSV_INVALID for a stray quote inside an unquoted field', async () => {
    const text = 'a,b\n1,2\n3,ab"c"\n';
    const error = await readError(text, {}, undefined, { headBytes: 8 });
    expect(error.code).toBe('CSV_INVALID');
    expect(error.location).toMatchObject({ row: 1, byteOffset: text.indexOf('3,ab') });
  });

  it('VALUE_INVALID names the column for a value that does not parse as the explicit type', async () => {
    const text = 'a,b\n1,2\n3,x\n';
    const error = await readError(text, { schema: { b: 'float64' } });
    expect(error.code).toBe('VALUE_INVALID');
    expect(error.location).toEqual({ uri: URI, row: 1, byteOffset: 8, column: 'b' });
    const bool = await readError('a,b\n1,true\n3,maybe\n', { schema: { b: 'bool' } });
    expect(bool.location).toMatchObject({ row: 1, column: 'b', byteOffset: 11 });
  });

  it('a part not at the object start reports the byte offset and its record index, not a row', async () => {
    const text = 'a,b\n1,2\n3,4\n5,6\n7\n';
    const start = text.indexOf('5,6');
    // A small head keeps the bad row out of the schema sample (a bad row inside the head is reported, with
    // its exact row, by every part).
    const error = await readError(text, {}, { start, end: text.length }, { headBytes: 8 });
    expect(error.code).toBe('CSV_RAGGED_ROW');
    expect(error.location.row).toBeUndefined();
    expect(error.location.byteOffset).toBe(text.indexOf('7\n'));
    expect(error.message).toContain(`record 1 of the part starting at byte ${start}`);
  });

  it('byte offsets count UTF-8 bytes, not characters', async () => {
    const text = 'a,b\néé,😀\n1\n';
    const error = await readError(text);
    expect(error.location.byteOffset).toBe(Buffer.byteLength('a,b\néé,😀\n'));
  });

  it('rejects a part that does not start at a record start', async () => {
    await expect(readCsv('a,b\n1,2\n3,4\n', {}, { start: 5, end: 12 })).rejects.toThrow(RangeError);
  });
});

describe('CSV reader: I/O', () => {
  it('reads about its own range plus the head, not the whole object', async () => {
    const text =
      'id,v\n' + Array.from({ length: 20_000 }, (_, i) => `${i},"row ${i}\nsecond line"`).join('\n') + '\n';
    const storage = makeMemoryStorage({ [URI]: text });
    const size = text.length;
    const read = (s: number, e: number) => storage.read(URI, { start: s, end: e });
    const splits = await planCsvSplits(readBlocks(read, size, 64 << 10), size, 64 << 10);
    expect(splits.length).toBeGreaterThan(5);
    const knobs = { headBytes: 4096, blockSize: 16 << 10, tailBlockSize: 1024 };
    let total = 0;
    for (const s of splits) {
      storage.resetCounts();
      const part = { uri: URI, size, range: { kind: 'bytes' as const, start: s.start, end: s.end } };
      let n = 0;
      for await (const b of makeCsvReader(knobs).readPart(storage, part)) n += b.numRows;
      expect(n).toBe(s.rows);
      total += n;
      // Own range + head + one tail block (+ the byte before the start).
      expect(storage.bytesRead()).toBeLessThanOrEqual(
        s.end - s.start + knobs.headBytes + knobs.tailBlockSize + 1,
      );
    }
    expect(total).toBe(20_000);
  });
});
