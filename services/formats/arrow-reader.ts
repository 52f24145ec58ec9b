import {
  RecordBatchReader,
  type RecordBatch,
  type RecordBatchFileReader,
  type RecordBatchStreamReader,
  type Schema,
} from 'apache-arrow';
import type { ChunkPart } from '../../schemas/chunk-descriptor.js';
import type { Storage } from '../../jobs/ports/storage.js';
import {
  ARROW_END_OF_STREAM,
  ARROW_FILE_MAGIC,
  frameAt,
  framePrefixAt,
  hasBytesAt,
  readArrowFooter,
  schemaMessage,
} from './arrow-ipc-messages.js';
import { BadDataError } from './errors/bad-data-error.js';
import type { FormatReader, ReadPartOptions } from './format-reader.js';

export type ArrowIpcFormat = 'file' | 'stream';

/** The IPC file format starts (and ends) with `ARROW1`; anything else is read as the stream format. */
export function detectArrowIpcFormat(bytes: Uint8Array): ArrowIpcFormat {
  return hasBytesAt(bytes, 0, ARROW_FILE_MAGIC) ? 'file' : 'stream';
}

/**
 * The column indices to keep, in the order asked for. (apache-arrow's `RecordBatch.select` keeps schema
 * order and misplaces children for non-prefix subsets, so projection goes through `selectAt`.)
 */
function projection(schema: Schema, columns: string[] | undefined, uri: string): number[] | undefined {
  if (columns === undefined) return undefined;
  const names = schema.fields.map((field) => field.name);
  return columns.map((column) => {
    const index = names.indexOf(column);
    if (index < 0) {
      throw new BadDataError('SCHEMA_MISMATCH', `no column "${column}"; columns are ${names.join(', ')}`, {
        uri,
        column,
      });
    }
    return index;
  });
}

/**
 * Decodes a whole Arrow IPC object (file or stream format) into its record batches, lazily. apache-arrow
 * reports damaged input as whatever its parser tripped on (often a TypeError on a null), so every failure
 * becomes ARROW_INVALID naming the object.
 */
export function* decodeArrowIpc(
  bytes: Uint8Array,
  uri: string,
  options: ReadPartOptions = {},
): Generator<RecordBatch> {
  const invalid = (detail: string, cause?: unknown): BadDataError =>
    new BadDataError('ARROW_INVALID', detail, { uri }, cause === undefined ? undefined : { cause });
  const format = detectArrowIpcFormat(bytes);
  // A stream cut off between two messages parses cleanly and silently drops the rest. Every current writer
  // (Arrow ≥ 0.15: pyarrow, arrow-rs, apache-arrow, DuckDB, Polars) ends a stream with this marker, so
  // requiring it turns a truncated object into an error instead of lost rows. (The file format has the
  // same protection built in: its footer is at the end.)
  if (
    format === 'stream' &&
    !hasBytesAt(bytes, bytes.length - ARROW_END_OF_STREAM.length, ARROW_END_OF_STREAM)
  ) {
    throw invalid(
      'not an Arrow IPC file, or an Arrow IPC stream without its end-of-stream marker (truncated?)',
    );
  }
  let reader: RecordBatchFileReader | RecordBatchStreamReader;
  let schema: Schema | undefined;
  try {
    reader = RecordBatchReader.from(bytes).open();
    schema = reader.schema as Schema | undefined;
  } catch (error) {
    throw invalid(`cannot read the Arrow IPC ${format} header: ${String(error)}`, error);
  }
  if (schema === undefined || schema === null) throw invalid(`the Arrow IPC ${format} has no schema`);
  const indices = projection(schema, options.columns, uri);
  for (let index = 0; ; index++) {
    options.signal?.throwIfAborted();
    let next: IteratorResult<RecordBatch>;
    try {
      next = reader.next();
    } catch (error) {
      throw invalid(`cannot read record batch ${index} of the Arrow IPC ${format}: ${String(error)}`, error);
    }
    if (next.done === true) return;
    yield indices === undefined ? next.value : next.value.selectAt(indices);
  }
}

/** Bytes read from a stream's head for its schema message: 8 KiB holds ~150 columns' (more: a second read). */
const HEAD_BYTES = 8 * 1024;

/** A stream's schema message, from its head as read (and one more read for a very wide schema). */
async function streamSchema(
  storage: Storage,
  uri: string,
  head: Uint8Array,
  before: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  let frame = frameAt(head, 0, 0);
  // A schema longer than the first read (thousands of columns): its length is in the bytes read.
  const prefix = frame ? undefined : framePrefixAt(head, 0, 0);
  if (prefix && prefix.metaEnd <= before) {
    head = await storage.read(uri, { start: 0, end: prefix.metaEnd }, { signal });
    frame = frameAt(head, 0, 0);
  }
  if (!frame || frame.metaEnd > before) {
    throw new BadDataError('ARROW_INVALID', 'no schema message before the planned record batches', {
      uri,
      byteOffset: before,
    });
  }
  return head.subarray(0, frame.metaEnd);
}

/**
 * The record-batch messages `[start, end)` of an IPC object (as planning found them) as one
 * self-contained stream: the schema message (a stream's own; a file's made from its footer), those
 * messages, the end-of-stream marker. The head (≤ 8 KiB) and the range are read at once; a file's
 * footer then adds one read of its tail. One copy of the range's bytes.
 */
async function readBatchRange(
  storage: Storage,
  part: ChunkPart & { range: { kind: 'bytes' } },
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const { uri, size } = part;
  const { start, end } = part.range;
  const [head, body] = await Promise.all([
    storage.read(uri, { start: 0, end: Math.min(start, HEAD_BYTES) }, { signal }),
    storage.read(uri, { start, end }, { signal }),
  ]);
  const schema = hasBytesAt(head, 0, ARROW_FILE_MAGIC)
    ? schemaMessage((await readArrowFooter(storage, { uri, size }, { signal })).footer.schema)
    : await streamSchema(storage, uri, head, start, signal);
  if (body.byteLength !== end - start) {
    throw new BadDataError('ARROW_INVALID', `read ${body.byteLength} of the ${end - start} bytes planned`, {
      uri,
      byteOffset: start,
    });
  }
  const stream = new Uint8Array(schema.byteLength + body.byteLength + ARROW_END_OF_STREAM.byteLength);
  stream.set(schema, 0);
  stream.set(body, schema.byteLength);
  stream.set(ARROW_END_OF_STREAM, schema.byteLength + body.byteLength);
  return stream;
}

/**
 * Reads Arrow IPC objects: a `whole` part (or a `bytes` part covering the object) reads the object at
 * once; a `bytes` part planned by `planArrowSplits` reads only its record batches and the schema. Batches
 * are decoded straight out of the fetched buffer and share its memory.
 */
export function makeArrowReader(): FormatReader {
  return {
    async *readPart(storage: Storage, part: ChunkPart, options: ReadPartOptions = {}) {
      const { range } = part;
      if (range.kind === 'rowGroups') {
        throw new TypeError(`Arrow IPC parts are read by record batches, not by row groups (${part.uri})`);
      }
      options.signal?.throwIfAborted();
      if (range.kind === 'whole' || (range.start === 0 && range.end >= part.size)) {
        const bytes = await storage.read(part.uri, undefined, { signal: options.signal });
        yield* decodeArrowIpc(bytes, part.uri, options);
        return;
      }
      const stream = await readBatchRange(storage, { ...part, range }, options.signal);
      yield* decodeArrowIpc(stream, part.uri, options);
    },
  };
}
