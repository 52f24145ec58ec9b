import { Table, tableToIPC, type RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';

import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import {
  decodeArrowIpc,
  detectArrowIpcFormat,
  makeArrowReader,
} from '../../../services/formats/arrow-reader.js';
import { BadDataError } from '../../../services/formats/errors/bad-data-error.js';
import type { ReadPartOptions } from '../../../services/formats/format-reader.js';
import {
  allTypesBatches,
  comparableRows,
  expectedRows,
  makeMemoryStorage,
} from '../../helpers/memory-storage-writers.js';

const uri = 'mem://in/data.arrow';
const wholePart = (size: number): ChunkPart => ({ uri, size, range: { kind: 'whole' } });

async function readAll(bytes: Uint8Array, options?: ReadPartOptions): Promise<RecordBatch[]> {
  const storage = makeMemoryStorage({ [uri]: bytes });
  const batches: RecordBatch[] = [];
  for await (const batch of makeArrowReader().readPart(storage, wholePart(bytes.byteLength), options)) {
    batches.push(batch);
  }
  return batches;
}

async function readError(bytes: Uint8Array, options?: ReadPartOptions): Promise<BadDataError> {
  const error: unknown = await readAll(bytes, options).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(BadDataError);
  return error as BadDataError;
}

const fixture = new Table(allTypesBatches());
const encodings = { file: tableToIPC(fixture, 'file'), stream: tableToIPC(fixture, 'stream') };

describe.each(['file', 'stream'] as const)('Arrow IPC %s format', (format) => {
  const bytes = encodings[format];

  it('is detected from the bytes', () => {
    expect(detectArrowIpcFormat(bytes)).toBe(format);
  });

  it('yields every batch with every value', async () => {
    const batches = await readAll(bytes);
    expect(batches.map((batch) => batch.numRows)).toEqual([4, 3]);
    expect(comparableRows(batches)).toEqual(expectedRows());
  });

  it('projects columns in the order asked for', async () => {
    const batches = await readAll(bytes, { columns: ['score', 'id', 'vec3'] });
    expect(batches[0]!.schema.fields.map((field) => field.name)).toEqual(['score', 'id', 'vec3']);
    const expected = expectedRows().map(({ score, id, vec3 }) => ({ score, id, vec3 }));
    expect(comparableRows(batches)).toEqual(expected);
  });

  it('names an unknown column', async () => {
    const error = await readError(bytes, { columns: ['id', 'nope'] });
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.location).toEqual({ uri, column: 'nope' });
  });

  it.each([0.999, 0.75, 0.5, 0.1])(
    'reports a copy truncated to %s of its length as ARROW_INVALID',
    async (kept) => {
      const error = await readError(bytes.subarray(0, Math.floor(bytes.byteLength * kept)));
      expect(error.code).toBe('ARROW_INVALID');
      expect(error.location.uri).toBe(uri);
      expect(error.message).toContain(uri);
    },
  );
});

describe('Arrow IPC reader', () => {
  it('reports a stream cut exactly between two batches instead of dropping the rest', async () => {
    const first = tableToIPC(new Table(allTypesBatches().slice(0, 1)), 'stream');
    // The first batch's stream without its end-of-stream marker is a byte-exact prefix of a longer stream.
    expect((await readError(first.subarray(0, first.byteLength - 8))).code).toBe('ARROW_INVALID');
  });

  it.each([
    ['garbage', new TextEncoder().encode('this is not Arrow at all, not even close')],
    [
      'a file magic followed by garbage',
      new TextEncoder().encode('ARROW1\0\0garbage garbage garbage garbage'),
    ],
    ['an empty object', new Uint8Array(0)],
    ['only an end-of-stream marker', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])],
  ])('reports %s as ARROW_INVALID', async (_name, bytes) => {
    const error = await readError(bytes);
    expect(error.code).toBe('ARROW_INVALID');
    expect(error.location).toEqual({ uri });
  });

  it('reads the whole object in one request', async () => {
    const storage = makeMemoryStorage({ [uri]: encodings.file });
    for await (const _ of makeArrowReader().readPart(storage, wholePart(encodings.file.byteLength))) {
      // drain
    }
    expect(storage.reads).toEqual([{ uri }]);
  });

  it('reads a byte-range part that covers the object as the whole object, in one request', async () => {
    const storage = makeMemoryStorage({ [uri]: encodings.file });
    const size = encodings.file.byteLength;
    const part: ChunkPart = { uri, size, range: { kind: 'bytes', start: 0, end: size } };
    const batches: RecordBatch[] = [];
    for await (const batch of makeArrowReader().readPart(storage, part)) batches.push(batch);
    expect(comparableRows(batches)).toEqual(expectedRows());
    expect(storage.reads).toEqual([{ uri }]);
  });

  it('stops between batches when aborted', () => {
    const controller = new AbortController();
    const batches = decodeArrowIpc(encodings.stream, uri, { signal: controller.signal });
    expect(batches.next().done).toBe(false);
    controller.abort();
    expect(() => batches.next()).toThrow();
  });
});
