import { afterEach, describe, expect, it, vi } from 'vitest';
import { jobErrorOf } from '../../../../jobs/job-error.js';
import { isPermanent } from '../../../../schemas/errors/quiver-error.js';
import {
  type CsvReaderOptions,
  makeCsvReader as makeDuckdbCsvReader,
} from '../../../../services/formats/text/csv-duckdb-reader.js';

/** The shipped reader with DuckDB taking every part, however small, so these cases run on its path. */
const makeCsvReader = (options: CsvReaderOptions = {}) =>
  makeDuckdbCsvReader({ minDuckdbBytes: 0, ...options });
import { RecordTooLong } from '../../../../services/formats/errors/record-too-long.js';
import type { FormatReader } from '../../../../services/formats/format-reader.js';
import { makeJsonlReader } from '../../../../services/formats/text/jsonl-reader.js';
import type { TextReaderOptions } from '../../../../services/formats/text/record-boundaries.js';
import { makeMemoryStorage } from '../../../helpers/memory-storage.js';
import { readText, rowObjects } from '../../../helpers/text-reading.js';

const CSV = 's3://bucket/in/data.csv';
const JSONL = 's3://bucket/in/data.jsonl';

/** The `RecordTooLong` a read throws, with how many bytes the read fetched before it. */
async function tooLong(
  reader: FormatReader,
  uri: string,
  text: string,
  range?: { start: number; end: number },
): Promise<{ error: RecordTooLong; bytesRead: number }> {
  const storage = makeMemoryStorage({ [uri]: text });
  const size = storage.objects.get(uri)!.length;
  const part = {
    uri,
    size,
    range: range ? { kind: 'bytes' as const, ...range } : { kind: 'whole' as const },
  };
  try {
    for await (const _ of reader.readPart(storage, part)) void _;
  } catch (error) {
    if (error instanceof RecordTooLong) return { error, bytesRead: storage.bytesRead() };
    throw error;
  }
  throw new Error('expected a RecordTooLong');
}

const small: TextReaderOptions = { maxRecordBytes: 1_024, blockSize: 100, tailBlockSize: 16, headBytes: 64 };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('record size limit', () => {
  it('CSV: a record without a line break fails with CSV_RECORD_TOO_LONG at its start, reading about the limit', async () => {
    const text = `id,name\n1,a\n2,${'x'.repeat(50_000)}`;
    const { error, bytesRead } = await tooLong(makeCsvReader(small), CSV, text);
    expect(error).toMatchObject({
      code: 'CSV_RECORD_TOO_LONG',
      uri: CSV,
      byteOffset: 12,
      maxRecordBytes: 1_024,
    });
    expect(error.message).toBe(
      `CSV_RECORD_TOO_LONG: a record runs past 1024 bytes (maxRecordBytes) without ending (${CSV}, byte 12)`,
    );
    // The head, then the open record up to the limit: nowhere near the 50 KB object.
    expect(bytesRead).toBeLessThan(3 * 1_024);
    expect(isPermanent(error)).toBe(true);
    expect(jobErrorOf(error)).toMatchObject({ code: 'CSV_RECORD_TOO_LONG', uri: CSV });
  });

  it('CSV: an unterminated quote that swallows the rest of the object is too long, not a 2 GiB buffer', async () => {
    const text = `a,b\n1,"open\n${'2,x\n'.repeat(2_000)}`;
    const { error } = await tooLong(makeCsvReader(small), CSV, text);
    expect(error).toMatchObject({ code: 'CSV_RECORD_TOO_LONG', byteOffset: 4 });
  });

  it('CSV: a header longer than the limit fails at byte 0', async () => {
    const { error } = await tooLong(makeCsvReader(small), CSV, `${'h'.repeat(5_000)}\n1\n`);
    expect(error).toMatchObject({ code: 'CSV_RECORD_TOO_LONG', byteOffset: 0 });
  });

  it('CSV: a record of exactly the limit reads, with or without its line break; one byte more does not', async () => {
    const reader = makeCsvReader(small);
    for (const end of ['\n', '']) {
      const rows = rowObjects(await readText(reader, CSV, `v\n${'x'.repeat(1_024)}${end}`));
      expect(rows).toEqual([{ v: 'x'.repeat(1_024) }]);
      const { error } = await tooLong(reader, CSV, `v\n${'x'.repeat(1_025)}${end}`);
      expect(error).toMatchObject({ code: 'CSV_RECORD_TOO_LONG', byteOffset: 2 });
    }
  });

  it('JSONL: a line over the limit fails with JSONL_RECORD_TOO_LONG at its start, for a part starting before it too', async () => {
    const text = `{"a":1}\n{"a":"${'x'.repeat(5_000)}"}\n{"a":2}\n`;
    for (const range of [undefined, { start: 3, end: text.length }]) {
      const { error } = await tooLong(makeJsonlReader(small), JSONL, text, range);
      expect(error).toMatchObject({ code: 'JSONL_RECORD_TOO_LONG', uri: JSONL, byteOffset: 8 });
      expect(isPermanent(error)).toBe(true);
    }
    const { error } = await tooLong(makeJsonlReader(small), JSONL, `{"a":"${'x'.repeat(5_000)}"}\n`);
    expect(error).toMatchObject({ code: 'JSONL_RECORD_TOO_LONG', byteOffset: 0 });
  });

  it('JSONL: a line of exactly the limit reads', async () => {
    const line = `{"a":"${'x'.repeat(1_024 - 8)}"}`;
    expect(line).toHaveLength(1_024);
    expect(rowObjects(await readText(makeJsonlReader(small), JSONL, `${line}\n${line}`))).toHaveLength(2);
  });

  it('defaults to 64 MiB: an object without line breaks fails by name, not as invalid UTF-8 at V8 string limits', async () => {
    const body = 'x'.repeat(65 << 20);
    const csv = await tooLong(makeCsvReader(), CSV, `v\n${body}`);
    expect(csv.error).toMatchObject({ code: 'CSV_RECORD_TOO_LONG', byteOffset: 2, maxRecordBytes: 64 << 20 });
    expect(csv.bytesRead).toBeLessThan((64 << 20) + (2 << 20));
    const jsonl = await tooLong(makeJsonlReader(), JSONL, `{"v":"${body}"}`);
    expect(jsonl.error).toMatchObject({ code: 'JSONL_RECORD_TOO_LONG', byteOffset: 0 });
  }, 30_000); // 64 MiB of text: seconds on a loaded 2-core machine

  it('a record spanning a thousand reads is copied a few times over, not once per read', async () => {
    const value = 'x'.repeat(1 << 20);
    const text = `v\n${value}\n`;
    let copied = 0;
    // The spy sits on Uint8Array.prototype; the original lives on its prototype, %TypedArray%.prototype.
    const { set } = Object.getPrototypeOf(Uint8Array.prototype) as {
      set: (this: Uint8Array, source: ArrayLike<number>, offset?: number) => void;
    };
    vi.spyOn(Uint8Array.prototype, 'set').mockImplementation(function (
      this: Uint8Array,
      source: ArrayLike<number>,
      offset?: number,
    ) {
      copied += source.length;
      set.call(this, source, offset);
    });
    const knobs = { blockSize: 1_024, tailBlockSize: 1_024, maxRecordBytes: 2 << 20 };
    const rows = rowObjects(await readText(makeCsvReader(knobs), CSV, text));
    vi.restoreAllMocks();
    expect(rows).toEqual([{ v: value }]);
    // Growing into spare room copies the record a few times; concatenating every 1 KiB read onto it would
    // copy about 512 MiB.
    expect(copied).toBeGreaterThan(value.length);
    expect(copied).toBeLessThan(8 * value.length);
  });
});
