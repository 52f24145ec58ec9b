import {
  Dictionary,
  Int32,
  RecordBatchFileWriter,
  RecordBatchStreamWriter,
  Table,
  Utf8,
  tableFromArrays,
  tableToIPC,
  vectorFromArray,
  type RecordBatch,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { TextSplit } from '../../../jobs/ports/input-readers.js';
import { planArrowSplits } from '../../../services/formats/arrow-ipc-messages.js';
import { makeArrowReader } from '../../../services/formats/arrow-reader.js';
import { BadDataError } from '../../../services/formats/errors/bad-data-error.js';
import {
  allTypesBatches,
  comparableRows,
  expectedRows,
  makeMemoryStorage,
} from '../../helpers/memory-storage-writers.js';

const uri = 'mem://in/data.arrow';

/** An IPC object of `batches` record batches of `rows` rows each: `id` counts rows, `x` = id / 2. */
function numbered(format: 'file' | 'stream', batches: number, rows: number): Uint8Array {
  const writer = format === 'file' ? new RecordBatchFileWriter() : new RecordBatchStreamWriter();
  for (let b = 0; b < batches; b++) {
    const ids = Int32Array.from({ length: rows }, (_, i) => b * rows + i);
    const table = tableFromArrays({ id: ids, x: Float64Array.from(ids, (id) => id / 2) });
    for (const batch of table.batches) writer.write(batch);
  }
  writer.finish();
  return writer.toUint8Array(true);
}

async function splitsOf(bytes: Uint8Array, storage = makeMemoryStorage({ [uri]: bytes })) {
  const splits: TextSplit[] = [];
  const info = { uri, size: bytes.byteLength, etag: 'e', lastModified: new Date(0) };
  for await (const split of planArrowSplits(storage, info)) splits.push(split);
  return splits;
}

async function readRange(
  bytes: Uint8Array,
  start: number,
  end: number,
  columns?: string[],
): Promise<RecordBatch[]> {
  const storage = makeMemoryStorage({ [uri]: bytes });
  const part: ChunkPart = { uri, size: bytes.byteLength, range: { kind: 'bytes', start, end } };
  const batches: RecordBatch[] = [];
  for await (const batch of makeArrowReader().readPart(storage, part, columns ? { columns } : {})) {
    batches.push(batch);
  }
  return batches;
}

const ids = (batches: readonly RecordBatch[]): number[] =>
  batches.flatMap((b) => Array.from(b.getChild('id')!.toArray() as Int32Array));

async function planError(bytes: Uint8Array): Promise<BadDataError> {
  const error: unknown = await splitsOf(bytes).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(BadDataError);
  return error as BadDataError;
}

describe.each(['file', 'stream'] as const)('Arrow IPC %s format split by record batches', (format) => {
  const bytes = numbered(format, 5, 1_000);

  it('plans one split per batch with its rows, in order, tiling the batch messages', async () => {
    const splits = await splitsOf(bytes);
    expect(splits.map((s) => s.rows)).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(splits.map((s) => s.records)).toEqual(splits.map((s) => s.rows));
    for (let i = 1; i < splits.length; i++) expect(splits[i]!.start).toBe(splits[i - 1]!.end);
    expect(splits[0]!.start).toBeGreaterThan(0);
    expect(splits.at(-1)!.end).toBeLessThan(bytes.byteLength);
  });

  it('reads exactly the rows of each split, and of adjacent splits merged', async () => {
    const splits = await splitsOf(bytes);
    for (const [i, split] of splits.entries()) {
      const batches = await readRange(bytes, split.start, split.end);
      expect(ids(batches)).toEqual(Array.from({ length: 1_000 }, (_, r) => i * 1_000 + r));
    }
    const merged = await readRange(bytes, splits[1]!.start, splits[3]!.end);
    expect(ids(merged)).toEqual(Array.from({ length: 3_000 }, (_, r) => 1_000 + r));
    const x = merged.flatMap((b) => Array.from(b.getChild('x')!.toArray() as Float64Array));
    expect(x).toEqual(ids(merged).map((id) => id / 2));
  });

  it('projects columns in a ranged read', async () => {
    const [split] = await splitsOf(bytes);
    const [batch] = await readRange(bytes, split!.start, split!.end, ['x']);
    expect(batch!.schema.fields.map((f) => f.name)).toEqual(['x']);
  });

  it('plans from headers alone: a fraction of the object is read', async () => {
    const big = numbered(format, 8, 50_000); // ~600 KB per batch
    const storage = makeMemoryStorage({ [uri]: big });
    expect(await splitsOf(big, storage)).toHaveLength(8);
    expect(storage.bytesRead()).toBeLessThan(big.byteLength / 4);
  });

  it('reads a range with ranged requests (two for a stream, three for a file), never the whole', async () => {
    const big = numbered(format, 8, 50_000);
    const splits = await splitsOf(big);
    const storage = makeMemoryStorage({ [uri]: big });
    const part: ChunkPart = {
      uri,
      size: big.byteLength,
      range: { kind: 'bytes', start: splits[2]!.start, end: splits[2]!.end },
    };
    const batches: RecordBatch[] = [];
    for await (const batch of makeArrowReader().readPart(storage, part)) batches.push(batch);
    expect(ids(batches)).toEqual(Array.from({ length: 50_000 }, (_, r) => 100_000 + r));
    expect(storage.reads).toHaveLength(format === 'file' ? 3 : 2);
    expect(storage.reads.every((r) => r.range !== undefined)).toBe(true);
    expect(storage.bytesRead()).toBeLessThanOrEqual(splits[2]!.end - splits[2]!.start + 8 * 1024 + 64 * 1024);
  });

  it('plans and reads a schema and batch headers wider than one header read (400 columns)', async () => {
    const columns = Object.fromEntries(
      Array.from({ length: 400 }, (_, c) => [
        `column_${c}`,
        Float64Array.from({ length: 50 }, (_, r) => r * c),
      ]),
    );
    const writer = format === 'file' ? new RecordBatchFileWriter() : new RecordBatchStreamWriter();
    for (let b = 0; b < 3; b++) for (const batch of tableFromArrays(columns).batches) writer.write(batch);
    writer.finish();
    const wide = writer.toUint8Array(true);
    const splits = await splitsOf(wide);
    expect(splits.map((s) => s.rows)).toEqual([50, 50, 50]);
    const [batch] = await readRange(wide, splits[1]!.start, splits[1]!.end, ['column_399']);
    expect(Array.from(batch!.getChild('column_399')!.toArray() as Float64Array)).toEqual(
      Array.from({ length: 50 }, (_, r) => r * 399),
    );
  });

  it('keeps every type of the all-types fixture through a ranged read', async () => {
    const fixture = tableToIPC(new Table(allTypesBatches([4, 3])), format);
    const splits = await splitsOf(fixture);
    expect(splits.map((s) => s.rows)).toEqual([4, 3]);
    const batches = [
      ...(await readRange(fixture, splits[0]!.start, splits[0]!.end)),
      ...(await readRange(fixture, splits[1]!.start, splits[1]!.end)),
    ];
    expect(comparableRows(batches)).toEqual(expectedRows());
  });

  it('reads an object with dictionary columns whole: one split without rows', async () => {
    const dictionary = vectorFromArray(['a', 'b', 'a', 'c'], new Dictionary(new Utf8(), new Int32()));
    const table = new Table({ d: dictionary, n: vectorFromArray([1, 2, 3, 4], new Int32()) });
    const encoded = tableToIPC(table, format);
    expect(await splitsOf(encoded)).toEqual([{ start: 0, end: encoded.byteLength }]);
    const batches = await readRange(encoded, 0, encoded.byteLength);
    expect(batches.flatMap((b) => [...b.getChild('d')!].map(String))).toEqual(['a', 'b', 'a', 'c']);
  });

  it('plans nothing for an empty object', async () => {
    expect(await splitsOf(new Uint8Array())).toEqual([]);
  });
});

describe('Arrow IPC planning of damaged objects', () => {
  it('names a stream cut between two batches (no end-of-stream marker) with the byte offset', async () => {
    const bytes = numbered('stream', 3, 100);
    const splits = await splitsOf(bytes);
    const error = await planError(bytes.subarray(0, splits[1]!.end));
    expect(error.code).toBe('ARROW_INVALID');
    expect(error.location.uri).toBe(uri);
    expect(error.location.byteOffset).toBe(splits[1]!.end);
  });

  it('names a stream whose last body is truncated', async () => {
    const bytes = numbered('stream', 3, 100);
    const splits = await splitsOf(bytes);
    const error = await planError(bytes.subarray(0, splits[2]!.end - 10));
    expect(error.code).toBe('ARROW_INVALID');
    expect(error.location.byteOffset).toBe(splits[2]!.start);
  });

  it.each([0.9, 0.5])('names a file truncated to %s of its length', async (kept) => {
    const bytes = numbered('file', 3, 100);
    const error = await planError(bytes.subarray(0, Math.floor(bytes.byteLength * kept)));
    expect(error.code).toBe('ARROW_INVALID');
    expect(error.message).toContain(uri);
  });

  it('names garbage that is not Arrow at all', async () => {
    const error = await planError(new TextEncoder().encode('not arrow, not even close, at all'));
    expect(error.code).toBe('ARROW_INVALID');
  });

  it('refuses a footer over the limit', async () => {
    const bytes = numbered('file', 2, 10);
    const storage = makeMemoryStorage({ [uri]: bytes });
    const info = { uri, size: bytes.byteLength, etag: 'e', lastModified: new Date(0) };
    const splits = planArrowSplits(storage, info, { maxFooterBytes: 16 })[Symbol.asyncIterator]();
    await expect(splits.next()).rejects.toThrow(/over the 16-byte limit/);
  });
});

describe('Arrow IPC range reads', () => {
  it('still reads a whole part, and refuses row groups', async () => {
    const bytes = numbered('file', 2, 10);
    const storage = makeMemoryStorage({ [uri]: bytes });
    const whole: ChunkPart = { uri, size: bytes.byteLength, range: { kind: 'whole' } };
    const batches: RecordBatch[] = [];
    for await (const batch of makeArrowReader().readPart(storage, whole)) batches.push(batch);
    expect(ids(batches)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const groups: ChunkPart = { ...whole, range: { kind: 'rowGroups', start: 0, end: 1, rowOffset: 0 } };
    const iterator = makeArrowReader().readPart(storage, groups)[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow(TypeError);
  });
});
