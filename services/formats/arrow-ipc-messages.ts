import { DataType, type Field, MessageHeader, type Schema } from 'apache-arrow';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { Message } from 'apache-arrow/ipc/metadata/message';
import type { ObjectInfo, Storage } from '../../jobs/ports/storage.js';
import type { TextSplit } from '../../jobs/ports/input-readers.js';
import { StorageError } from '../../jobs/ports/errors/storage-error.js';
import { BadDataError } from './errors/bad-data-error.js';

/** `ARROW1`: the file format's leading and trailing magic. */
export const ARROW_FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31];
/** The stream's end marker: continuation + zero metadata length. */
export const ARROW_END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);
/** The file format's schema message starts after the magic, padded to 8 bytes. */
const FILE_HEADER_BYTES = 8;
/** Trailer of the file format: int32 footer length + `ARROW1`. */
const FILE_TRAILER_BYTES = 10;
/** Largest footer read unless told otherwise, as for Parquet: 64 MiB. */
const DEFAULT_MAX_FOOTER_BYTES = 64 << 20;
/**
 * Bytes per ranged read of message headers: a record batch's header is ~50 bytes a column (8 KiB holds
 * one of 150 columns; a longer one costs a second read), and small batches' headers share a read.
 */
const HEADER_WINDOW_BYTES = 8 * 1024;
/** Bytes of a file's tail read first: its trailer and, usually, its whole footer. */
const TAIL_BYTES = 64 * 1024;

export function hasBytesAt(bytes: Uint8Array, at: number, expected: ArrayLike<number>): boolean {
  if (at < 0 || at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/** Where one encapsulated IPC message lies: its flatbuffer metadata, and where the next message starts. */
export interface MessageFrame {
  /** First byte of the message (its continuation marker or, in the pre-0.15 format, its length). */
  start: number;
  /** The flatbuffer metadata `[metaStart, metaEnd)`; empty at the end-of-stream marker. */
  metaStart: number;
  metaEnd: number;
}

/**
 * The frame of the message at `at` in `bytes` (which hold the object from byte `base`), read from its
 * length prefix alone: `metaEnd` may lie past the bytes held. Undefined when `bytes` do not hold the whole
 * prefix. Both encodings are read: `0xFFFFFFFF <int32 length>` (Arrow ≥ 0.15) and the older bare
 * `<int32 length>`.
 */
export function framePrefixAt(bytes: Uint8Array, base: number, at: number): MessageFrame | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const local = at - base;
  if (local + 4 > bytes.length) return undefined;
  const first = view.getInt32(local, true);
  const prefix = first === -1 ? 8 : 4;
  if (local + prefix > bytes.length) return undefined;
  const length = first === -1 ? view.getInt32(local + 4, true) : first;
  if (length < 0) throw new RangeError(`negative message length ${length} at byte ${at}`);
  return { start: at, metaStart: at + prefix, metaEnd: at + prefix + length };
}

/** The frame of the message at `at`, or undefined when `bytes` do not reach the end of its metadata. */
export function frameAt(bytes: Uint8Array, base: number, at: number): MessageFrame | undefined {
  const frame = framePrefixAt(bytes, base, at);
  return frame && frame.metaEnd - base <= bytes.length ? frame : undefined;
}

function hasDictionary(fields: readonly Field[]): boolean {
  return fields.some((f) => {
    const type = f.type as DataType;
    return DataType.isDictionary(type) || hasDictionary((type.children as Field[] | null) ?? []);
  });
}

/** Reads an object's bytes forward through a window, so headers of small messages share one ranged read. */
function windowReader(storage: Storage, object: ObjectInfo, signal: AbortSignal | undefined) {
  let base = 0;
  let bytes: Uint8Array = new Uint8Array();
  const load = async (start: number, minEnd: number): Promise<void> => {
    const end = Math.min(object.size, Math.max(minEnd, start + HEADER_WINDOW_BYTES));
    bytes = await storage.read(object.uri, { start, end }, { signal });
    base = start;
  };
  return {
    /** The frame and metadata bytes of the message at `at`. */
    async messageAt(at: number): Promise<{ frame: MessageFrame; metadata: Uint8Array }> {
      let frame = at >= base ? frameAt(bytes, base, at) : undefined;
      if (!frame) {
        await load(at, at + 8);
        frame = frameAt(bytes, base, at);
        const prefix = frame ? undefined : framePrefixAt(bytes, base, at);
        if (prefix) {
          // The metadata is longer than the window: read exactly what it needs.
          await load(at, prefix.metaEnd);
          frame = frameAt(bytes, base, at);
        }
      }
      if (!frame || frame.metaEnd > object.size) {
        throw new RangeError(`message at byte ${at} runs past the end of the object`);
      }
      return { frame, metadata: bytes.subarray(frame.metaStart - base, frame.metaEnd - base) };
    },
  };
}

export interface ArrowSplitOptions {
  /** Largest file footer accepted (default 64 MiB, as for Parquet); a larger one is `ARROW_INVALID`. */
  maxFooterBytes?: number;
  signal?: AbortSignal;
}

/**
 * The record batches of one Arrow IPC object, for planning: one split per batch, `[start, end)` being the
 * batch's whole message (metadata and body) and `rows` its length, in object order. The file format's
 * batches come from its footer's block index (two ranged reads of the tail, then each batch's metadata);
 * a stream's by following its messages from the schema to the end-of-stream marker, reading only their
 * headers. An object whose schema has a dictionary-encoded column is one split `[0, size)` without rows
 * (read whole): its batches are meaningless without the dictionary messages that precede them.
 * Damaged objects throw `ARROW_INVALID` naming the object and the byte offset.
 */
export async function* planArrowSplits(
  storage: Storage,
  object: ObjectInfo,
  options: ArrowSplitOptions = {},
): AsyncGenerator<TextSplit> {
  const { uri, size } = object;
  const { signal } = options;
  const invalid = invalidOf(uri);
  if (size === 0) return;
  const window = windowReader(storage, object, signal);
  const decode = (metadata: Uint8Array, at: number): Message => {
    try {
      return Message.decode(metadata);
    } catch (error) {
      throw invalid(`unreadable IPC message metadata: ${String(error)}`, at, error);
    }
  };
  const messageAt = async (at: number) => {
    try {
      const { frame, metadata } = await window.messageAt(at);
      return { frame, message: metadata.length === 0 ? undefined : decode(metadata, at) };
    } catch (error) {
      if (error instanceof BadDataError || error instanceof StorageError) throw error;
      if (error instanceof Error && error.name === 'AbortError') throw error;
      throw invalid(`not a readable Arrow IPC message: ${String(error)}`, at, error);
    }
  };
  const head = await storage.read(uri, { start: 0, end: Math.min(size, FILE_HEADER_BYTES) }, { signal });
  if (hasBytesAt(head, 0, ARROW_FILE_MAGIC)) {
    yield* fileSplits(storage, object, options, messageAt, invalid);
    return;
  }
  const first = await messageAt(0);
  if (first.message?.headerType !== MessageHeader.Schema) {
    throw invalid('the Arrow IPC stream does not start with a schema', 0);
  }
  if (hasDictionary((first.message.header() as Schema).fields)) {
    yield { start: 0, end: size };
    return;
  }
  for (let at = first.frame.metaEnd + first.message.bodyLength; ;) {
    if (at + 4 > size) throw invalid('the Arrow IPC stream ends without its end-of-stream marker', at);
    const { frame, message } = await messageAt(at);
    if (message === undefined) return;
    const end = frame.metaEnd + message.bodyLength;
    if (end > size) throw invalid('a message body runs past the end of the object', at);
    if (message.headerType === MessageHeader.RecordBatch) {
      const rows = (message.header() as { length: number }).length;
      yield { start: at, end, rows, records: rows };
    } else if (message.headerType !== MessageHeader.Schema) {
      throw invalid(`unexpected message (header type ${String(message.headerType)}) in the stream`, at);
    }
    at = end;
  }
}

function invalidOf(uri: string) {
  return (detail: string, byteOffset?: number, cause?: unknown): BadDataError =>
    new BadDataError(
      'ARROW_INVALID',
      detail,
      byteOffset === undefined ? { uri } : { uri, byteOffset },
      cause === undefined ? undefined : { cause },
    );
}

/**
 * The footer of an Arrow IPC file (its schema and block index), by ranged reads of the tail: one for the
 * trailer and, unless the footer lies in it, one for the footer. Damage is `ARROW_INVALID`.
 */
export async function readArrowFooter(
  storage: Storage,
  object: { uri: string; size: number },
  options: ArrowSplitOptions = {},
): Promise<{ footer: Footer; footerStart: number }> {
  const { uri, size } = object;
  const { signal } = options;
  const invalid = invalidOf(uri);
  if (size < FILE_HEADER_BYTES + FILE_TRAILER_BYTES) {
    throw invalid(`${size} bytes is too short for an Arrow IPC file`);
  }
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const tail = await storage.read(uri, { start: tailStart, end: size }, { signal });
  if (!hasBytesAt(tail, tail.length - 6, ARROW_FILE_MAGIC)) {
    throw invalid('the Arrow IPC file does not end with ARROW1 (truncated?)', size - 6);
  }
  const trailer = new DataView(tail.buffer, tail.byteOffset + tail.length - FILE_TRAILER_BYTES, 4);
  const footerBytes = trailer.getInt32(0, true);
  const footerStart = size - FILE_TRAILER_BYTES - footerBytes;
  const maxFooterBytes = options.maxFooterBytes ?? DEFAULT_MAX_FOOTER_BYTES;
  if (footerBytes > maxFooterBytes) {
    throw invalid(
      `the Arrow IPC file declares a ${footerBytes}-byte footer, over the ${maxFooterBytes}-byte limit`,
      size - FILE_TRAILER_BYTES,
    );
  }
  if (footerBytes <= 0 || footerStart < FILE_HEADER_BYTES) {
    throw invalid(`the Arrow IPC file declares a ${footerBytes}-byte footer`, size - FILE_TRAILER_BYTES);
  }
  try {
    const bytes =
      footerStart >= tailStart
        ? tail.subarray(footerStart - tailStart, footerStart - tailStart + footerBytes)
        : await storage.read(uri, { start: footerStart, end: footerStart + footerBytes }, { signal });
    return { footer: Footer.decode(bytes), footerStart };
  } catch (error) {
    if (error instanceof StorageError || (error instanceof Error && error.name === 'AbortError')) throw error;
    throw invalid(`unreadable Arrow IPC footer: ${String(error)}`, footerStart, error);
  }
}

/**
 * The schema as one encapsulated IPC message (continuation, length, flatbuffer, padding to 8), as a
 * stream starts: a file's batches are made readable as a stream with it. (apache-arrow writes a file's
 * schema only in its footer, so the file's own schema message cannot be copied.)
 */
export function schemaMessage(schema: Schema): Uint8Array {
  const flatbuffer = Message.encode(Message.from(schema));
  const aligned = (flatbuffer.byteLength + 8 + 7) & ~7;
  const out = new Uint8Array(aligned);
  const view = new DataView(out.buffer);
  view.setInt32(0, -1, true);
  view.setInt32(4, aligned - 8, true);
  out.set(flatbuffer, 8);
  return out;
}

async function* fileSplits(
  storage: Storage,
  object: ObjectInfo,
  options: ArrowSplitOptions,
  messageAt: (at: number) => Promise<{ frame: MessageFrame; message: Message | undefined }>,
  invalid: (detail: string, byteOffset?: number, cause?: unknown) => BadDataError,
): AsyncGenerator<TextSplit> {
  const { size } = object;
  const footer = await readArrowFooter(storage, object, options);
  if (hasDictionary(footer.footer.schema.fields)) {
    yield { start: 0, end: size };
    return;
  }
  const { footerStart } = footer;
  for (let index = 0; index < footer.footer.numRecordBatches; index++) {
    const block = footer.footer.getRecordBatch(index);
    if (!block) throw invalid(`the footer has no block ${index}`, footerStart);
    const end = block.offset + block.metaDataLength + block.bodyLength;
    if (block.offset < FILE_HEADER_BYTES || end > footerStart) {
      throw invalid(`record batch ${index} lies outside the file's body`, block.offset);
    }
    const { frame, message } = await messageAt(block.offset);
    if (message?.headerType !== MessageHeader.RecordBatch || frame.metaEnd + message.bodyLength > end) {
      throw invalid(`the footer's block ${index} does not point at a record batch`, block.offset);
    }
    const rows = (message.header() as { length: number }).length;
    yield { start: block.offset, end, rows, records: rows };
  }
}
