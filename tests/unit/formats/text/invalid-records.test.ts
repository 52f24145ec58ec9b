import { describe, expect, it } from 'vitest';
import {
  type CsvReaderOptions,
  makeCsvReader as makeDuckdbCsvReader,
} from '../../../../services/formats/text/csv-duckdb-reader.js';

/** The shipped reader with DuckDB taking every part, however small, so these cases run on its path. */
const makeCsvReader = (options: CsvReaderOptions = {}) =>
  makeDuckdbCsvReader({ minDuckdbBytes: 0, ...options });
import type {
  ColumnTypeName,
  FormatReader,
  InvalidRecord,
} from '../../../../services/formats/format-reader.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import { badDataErrorOf, readText, rowObjects } from '../../../helpers/text-reading.js';

const CSV = 's3://bucket/in/data.csv';
const JSONL = 's3://bucket/in/data.jsonl';

/** Reads with skipping on; returns the rows and what was skipped. */
async function readSkipping(
  reader: FormatReader,
  uri: string,
  text: string,
  options: { schema?: Record<string, ColumnTypeName> } = {},
): Promise<{ rows: Record<string, unknown>[]; skipped: InvalidRecord[] }> {
  const skipped: InvalidRecord[] = [];
  const batches = await readText(reader, uri, text, {
    ...(options.schema ? { schema: options.schema } : {}),
    onInvalidRecord: (invalid) => skipped.push(invalid),
  });
  return { rows: rowObjects(batches), skipped };
}

describe('readers skip invalid records when asked', () => {
  it('CSV: ragged rows and unparsable numbers are skipped, reported with row, byte offset and text', async () => {
    const text = 'a,b\n1,2\n3\n4,5\nx,6\n7,8,9\n10,11\n';
    const { rows, skipped } = await readSkipping(makeCsvReader(), CSV, text, {
      schema: { a: 'int64', b: 'int64' },
    });
    expect(rows).toEqual([
      { a: 1n, b: 2n },
      { a: 4n, b: 5n },
      { a: 10n, b: 11n },
    ]);
    expect(
      skipped.map((s) => [
        s.error.code,
        s.error.location.row,
        s.error.location.byteOffset,
        s.record,
        s.rowInPart,
      ]),
    ).toEqual([
      ['CSV_RAGGED_ROW', 1, text.indexOf('3\n'), '3', 1],
      ['VALUE_INVALID', 3, text.indexOf('x,6'), 'x,6', 2],
      ['CSV_RAGGED_ROW', 4, text.indexOf('7,8,9'), '7,8,9', 2],
    ]);
  });

  it('CSV: a skipped record leaves no trace in the next row (validity, null counts)', async () => {
    // The bad record sets b before its fault; the next record's b is null and must stay null.
    const text = 'a,b,c\n1,2,3\n4,5\n6,,7\n';
    const { rows } = await readSkipping(makeCsvReader(), CSV, text, {
      schema: { a: 'float64', b: 'float64', c: 'float64' },
    });
    expect(rows).toEqual([
      { a: 1, b: 2, c: 3 },
      { a: 6, b: null, c: 7 },
    ]);
  });

  it('CSV: bad records in the head do not take part in type inference', async () => {
    const { rows, skipped } = await readSkipping(makeCsvReader(), CSV, 'a,b\n1,2.5\noops\n3,4\n');
    expect(rows).toEqual([
      { a: 1n, b: 2.5 },
      { a: 3n, b: 4 },
    ]);
    expect(skipped.map((s) => s.record)).toEqual(['oops']);
  });

  it('CSV: a fault whose record end is unknown (unterminated quote) still throws', async () => {
    const error = await badDataErrorOf(() =>
      readText(makeCsvReader({ headBytes: 8 }), CSV, 'a,b\n1,2\n3,"open\n4,5\n', {
        onInvalidRecord: () => undefined,
      }),
    );
    expect(error.code).toBe('CSV_INVALID');
  });

  it('JSONL: lines that are not JSON or not objects are skipped and reported', async () => {
    const text = '{"a":1}\n{oops\n[1,2]\n{"a":2}\n';
    const { rows, skipped } = await readSkipping(makeJsonlReader(), JSONL, text);
    expect(rows).toEqual([{ a: 1n }, { a: 2n }]);
    expect(skipped.map((s) => [s.error.code, s.error.location.row, s.record, s.rowInPart])).toEqual([
      ['JSONL_INVALID_JSON', 1, '{oops', 1],
      ['JSONL_INVALID_RECORD', 2, '[1,2]', 1],
    ]);
  });

  it('values that do not convert (bool, timestamp, JSON types) cut their row out, with exact stream places', async () => {
    // Gathered in batches of 3: the cut rows and the refused records interleave across batch edges.
    const csv = 'id,ok\n0,true\n1,maybe\n2\n3,false\n4,true\n5,nope\n6,true\n';
    const { rows, skipped } = await readSkipping(makeCsvReader({ batchRows: 3 }), CSV, csv, {
      schema: { ok: 'bool' },
    });
    expect(rows.map((r) => r.id)).toEqual([0n, 3n, 4n, 6n]);
    expect(
      skipped.map((s) => [
        s.error.code,
        s.error.location.row,
        s.error.location.column,
        s.record,
        s.rowInPart,
      ]),
    ).toEqual([
      ['VALUE_INVALID', 1, 'ok', '1,maybe', 1],
      ['CSV_RAGGED_ROW', 2, undefined, '2', 1],
      ['VALUE_INVALID', 5, 'ok', '5,nope', 3],
    ]);
    expect(skipped[0]!.error.location.byteOffset).toBe(csv.indexOf('1,maybe'));

    const jsonl = '{"id":0,"x":1.5}\n{"id":1,"x":"abc"}\n{"id":2,"x":true}\nnot json\n{"id":4,"x":2}\n';
    const read = await readSkipping(makeJsonlReader({ batchRows: 2 }), JSONL, jsonl, {
      schema: { x: 'float64' },
    });
    expect(read.rows).toEqual([
      { id: 0n, x: 1.5 },
      { id: 4n, x: 2 },
    ]);
    expect(read.skipped.map((s) => [s.error.code, s.error.location.row, s.record, s.rowInPart])).toEqual([
      ['VALUE_INVALID', 1, '{"id":1,"x":"abc"}', 1],
      ['VALUE_INVALID', 2, '{"id":2,"x":true}', 1],
      ['JSONL_INVALID_JSON', 3, 'not json', 1],
    ]);
  });

  it('without onInvalidRecord the first bad record still fails the read', async () => {
    const error = await badDataErrorOf(() => readText(makeCsvReader(), CSV, 'a,b\n1,2\n3\n'));
    expect(error.code).toBe('CSV_RAGGED_ROW');
  });
});
