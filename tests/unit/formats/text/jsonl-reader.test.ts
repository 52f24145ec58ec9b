import type { RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import type { BadDataError } from '../../../../services/formats/errors/bad-data-error.js';
import type { ReadPartOptions } from '../../../../services/formats/format-reader.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import type { TextReaderOptions } from '../../../../services/formats/text/record-boundaries.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { badDataErrorOf, readText, rowObjects } from '../../../helpers/text-reading.js';

const URI = 's3://bucket/in/data.jsonl';

function readJsonl(
  text: string,
  options: ReadPartOptions = {},
  range?: { start: number; end: number },
  knobs: TextReaderOptions = {},
): Promise<RecordBatch[]> {
  return readText(makeJsonlReader(knobs), URI, text, options, range);
}

const readError = (...args: Parameters<typeof readJsonl>): Promise<BadDataError> =>
  badDataErrorOf(() => readJsonl(...args));
const rows = rowObjects;

describe('JSONL reader: types', () => {
  it('infers columns in order of first appearance, with JSON types; missing keys are null', async () => {
    const text =
      '{"id":1,"x":1.5,"ok":true,"at":"2024-01-02T03:04:05.123+01:00"}\r\n\n{"id":2,"x":2,"tags":[1,2],"name":"n"}\n{"ok":false}';
    const batches = await readJsonl(text);
    expect(batches[0]!.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'id:Int64',
      'x:Float64',
      'ok:Bool',
      'at:Timestamp<MILLISECOND, UTC>',
      'tags:Utf8',
      'name:Utf8',
    ]);
    expect(rows(batches)).toEqual([
      { id: 1n, x: 1.5, ok: true, at: Date.UTC(2024, 0, 2, 2, 4, 5, 123), tags: null, name: null },
      { id: 2n, x: 2, ok: null, at: null, tags: '[1,2]', name: 'n' },
      { id: null, x: null, ok: false, at: null, tags: null, name: null },
    ]);
  });

  it('adds explicit-schema columns absent from the head and projects', async () => {
    const batches = await readJsonl('{"a":1}\n{"a":2,"late":"x"}\n', {
      schema: { late: 'string', a: 'float64' },
      columns: ['late', 'a'],
    });
    expect(rows(batches)).toEqual([
      { late: null, a: 1 },
      { late: 'x', a: 2 },
    ]);
  });
});

describe('JSONL reader: bad input', () => {
  it('JSONL_INVALID_JSON names the row (line, blank lines counted) and byte offset', async () => {
    const text = '{"a":1}\n\n{"a":2}\n{"a":\n';
    const error = await readError(text, {}, undefined, { headBytes: 4 });
    expect(error.code).toBe('JSONL_INVALID_JSON');
    expect(error.location).toEqual({
      uri: URI,
      row: 3,
      byteOffset: text.indexOf('{"a":\n'),
      column: undefined,
    });
  });

  it('JSONL_INVALID_RECORD for a value that is not an object', async () => {
    for (const line of ['[1,2]', '3', 'null', '"s"']) {
      const text = `{"a":1}\n${line}\n`;
      const error = await readError(text, {}, undefined, { headBytes: 4 });
      expect(error.code).toBe('JSONL_INVALID_RECORD');
      expect(error.location).toMatchObject({ uri: URI, row: 1, byteOffset: 8 });
    }
  });

  it('VALUE_INVALID names the column', async () => {
    const text = '{"a":1}\n{"a":"x"}\n';
    const error = await readError(text, { schema: { a: 'int64' } });
    expect(error.code).toBe('VALUE_INVALID');
    expect(error.location).toEqual({ uri: URI, row: 1, byteOffset: 8, column: 'a' });
  });

  it('SCHEMA_MISMATCH for an unknown projected column', async () => {
    const error = await readError('{"a":1}\n', { columns: ['b'] });
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.location.column).toBe('b');
  });

  it('a part past the start names the absolute byte offset and the record within the part', async () => {
    const text = '{"a":1}\n{"a":2}\n{"a":3}\nnope\n';
    const error = await readError(text, {}, { start: 10, end: text.length }, { headBytes: 8 });
    expect(error.code).toBe('JSONL_INVALID_JSON');
    expect(error.location.row).toBeUndefined();
    expect(error.location.byteOffset).toBe(text.indexOf('nope'));
    expect(error.message).toContain('record 1 of the part starting at byte 16');
  });
});

describe('JSONL reader: I/O', () => {
  it('reads about its own range plus the head', async () => {
    const text = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, s: `row ${i}` })).join('\n');
    const storage = makeMemoryStorage({ [URI]: text });
    const size = text.length;
    const knobs = { headBytes: 4096, blockSize: 16 << 10, tailBlockSize: 1024 };
    const step = 50_000;
    let total = 0;
    for (let start = 0; start < size; start += step) {
      storage.resetCounts();
      const end = Math.min(size, start + step);
      const part = { uri: URI, size, range: { kind: 'bytes' as const, start, end } };
      for await (const b of makeJsonlReader(knobs).readPart(storage, part)) total += b.numRows;
      expect(storage.bytesRead()).toBeLessThanOrEqual(
        end - start + knobs.headBytes + knobs.tailBlockSize + 1,
      );
    }
    expect(total).toBe(20_000);
  });
});
