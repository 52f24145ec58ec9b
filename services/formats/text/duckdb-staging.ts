/**
 * What the DuckDB text readers (CSV: csv-duckdb-reader.ts, JSONL: jsonl-duckdb-reader.ts) share: a lazily
 * made DuckDB instance, staging a record-aligned part as a local file DuckDB can read, and streaming the
 * query's chunks as Arrow batches with a fall-back to the format's exact parser — from the first row DuckDB
 * did not yield — whenever DuckDB refuses the part or yields a batch the exact parser might read otherwise.
 */
import { randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { RecordTooLong } from '../errors/record-too-long.js';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { skipRows } from '../../../jobs/skip-rows.js';
import type { ReadPartOptions } from '../format-reader.js';
import { ArrowChunkConverter } from '../parquet/duckdb-to-arrow.js';
import { type TextReaderOptions, textReaderKnobs } from './record-boundaries.js';

export interface DuckdbTextOptions {
  /** Where parts are staged for DuckDB (default: the OS temp dir). */
  tempDir?: string;
  /** DuckDB threads (default: DuckDB's own, the machine's cores). */
  threads?: number;
  /** Bytes per ranged read when staging a part (default 16 MiB). */
  stageBlockBytes?: number;
  /**
   * Parts smaller than this go to the exact parser (default 256 KiB): a DuckDB query and its staged file
   * cost a few milliseconds, about what the exact parser takes for that many bytes.
   */
  minDuckdbBytes?: number;
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** One DuckDB instance for a reader, made on first use; `close` releases it (safe twice). */
export function makeDuckdbConnector(options: Pick<DuckdbTextOptions, 'threads'>) {
  let instance: Promise<DuckDBInstance> | undefined;
  return {
    async connect(): Promise<DuckDBConnection> {
      instance ??= DuckDBInstance.create(
        ':memory:',
        options.threads ? { threads: String(options.threads) } : {},
      );
      return (await instance).connect();
    },
    async close(): Promise<void> {
      const pending = instance;
      instance = undefined;
      if (pending) (await pending).closeSync();
    },
  };
}

/** A format's exact parser over one part: the fall-back of its DuckDB reader. */
export type ExactPartReader = (
  storage: Storage,
  part: ChunkPart,
  options: ReadPartOptions,
  knobs: Required<TextReaderOptions>,
) => AsyncIterable<RecordBatch>;

/**
 * A DuckDB text reader's settings with their defaults, its DuckDB instance, and `exactFrom`: the exact
 * parser's batches of a part, less the `skip` rows DuckDB already yielded.
 */
export function duckdbTextReaderSetup(
  options: DuckdbTextOptions & TextReaderOptions,
  exact: ExactPartReader,
) {
  const knobs = textReaderKnobs(options);
  return {
    knobs,
    tempDir: options.tempDir ?? tmpdir(),
    stageBlockBytes: options.stageBlockBytes ?? 16 * 1024 * 1024,
    minDuckdbBytes: options.minDuckdbBytes ?? 256 * 1024,
    duckdb: makeDuckdbConnector(options),
    exactFrom: (storage: Storage, part: ChunkPart, readOptions: ReadPartOptions, skip: number) =>
      skipRows(exact(storage, part, readOptions, knobs), skip),
  };
}

/**
 * Runs `read` with a fresh staging path under `tempDir` (`quiver-<uuid><extension>`) and a way to open a
 * DuckDB connection; afterwards the connection is closed and the staged file removed, however it ended.
 */
export async function* withStagedPart(
  tempDir: string,
  extension: string,
  connector: { connect(): Promise<DuckDBConnection> },
  read: (path: string, connect: () => Promise<DuckDBConnection>) => AsyncIterable<RecordBatch>,
): AsyncGenerator<RecordBatch> {
  const path = join(tempDir, `quiver-${randomUUID()}${extension}`);
  let connection: DuckDBConnection | undefined;
  try {
    yield* read(path, async () => (connection = await connector.connect()));
  } finally {
    connection?.closeSync();
    await rm(path, { force: true });
  }
}

/** How one format finds record starts while staging; each part gets fresh ones (they may keep state). */
export interface StageBoundaries {
  /** The last record start after offset 0 in this block (blocks come in order), or -1. */
  lastStart(block: Uint8Array): number;
  /** The first record start after offset 0 in this block, past the part's end, or -1. */
  nextStart(block: Uint8Array): number;
}

export interface StageInput {
  format: 'csv' | 'jsonl';
  uri: string;
  read: (start: number, end: number) => Promise<Uint8Array>;
  readInto: (start: number, end: number, into: Uint8Array) => Promise<Uint8Array>;
  start: number;
  end: number;
  size: number;
  path: string;
  /** Drop a UTF-8 byte-order mark at the start (a part at the object's start). */
  stripBom: boolean;
  boundaries: StageBoundaries;
  /** Sees every staged byte, in order (e.g. to find what DuckDB would read otherwise). */
  inspect: (bytes: Uint8Array) => void;
  knobs: Required<TextReaderOptions>;
  stageBlockBytes: number;
}

/**
 * Writes the part's records to `path`: from `start` through the end of the record holding byte `end - 1`.
 * Returns the bytes staged, or undefined when that record runs past `maxRecordBytes` (the exact parser
 * then names it).
 */
export async function stageRecords(input: StageInput): Promise<number | undefined> {
  const { uri, read, readInto, start, end, size, boundaries, knobs } = input;
  const handle = await open(input.path, 'w');
  try {
    let written = 0;
    let recordStart = start;
    const append = async (bytes: Uint8Array): Promise<void> => {
      if (input.stripBom && written === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
        bytes = bytes.subarray(3);
      input.inspect(bytes);
      await handle.write(bytes, 0, bytes.length, written);
      written += bytes.length;
    };
    // A record still open past the limit plus a line break is too long whatever follows; one near the
    // limit goes to the exact parser, which applies the limit to the byte.
    const { maxRecordBytes } = knobs;
    const tooLong = (reached: number): boolean => {
      if (reached - recordStart > maxRecordBytes + 2)
        throw new RecordTooLong(input.format, uri, recordStart, maxRecordBytes);
      return reached - recordStart > maxRecordBytes - 2;
    };
    const blockBytes = Math.min(input.stageBlockBytes, maxRecordBytes + 3);
    // One buffer for every block: a fresh one per read costs its first-touch page faults (about the
    // cost of staging itself on the dev VM).
    const buffer = new Uint8Array(blockBytes);
    let at = start;
    while (at < end) {
      const block = await readInto(at, Math.min(end, at + blockBytes), buffer);
      const last = boundaries.lastStart(block);
      if (last >= 0) recordStart = at + last;
      await append(block);
      at += block.length;
      if (tooLong(at)) return undefined;
    }
    // The record straddling `end` is the part's: read on to its end, in growing tail blocks.
    for (let tail = knobs.tailBlockSize; recordStart < end && at < size; tail *= 2) {
      const block = await read(at, Math.min(size, at + tail, recordStart + maxRecordBytes + 3));
      const found = boundaries.nextStart(block);
      await append(found >= 0 ? block.subarray(0, found) : block);
      if (found >= 0) break;
      at += block.length;
      if (tooLong(at)) return undefined;
    }
    return written;
  } finally {
    await handle.close();
  }
}

export interface DuckdbBatchesInput {
  connection: DuckDBConnection;
  sql: string;
  /** Most rows per yielded batch (DuckDB hands over 2,048 at a time). */
  batchRows: number;
  /** Whether the exact parser must decide this batch's rows (e.g. a null float DuckDB could not read). */
  suspicious: (batch: RecordBatch) => boolean;
  /** The exact parser's batches of the part, less the `skip` rows already yielded. */
  exactFrom: (skip: number) => AsyncIterable<RecordBatch>;
  signal?: AbortSignal;
}

/**
 * Streams the query's result as Arrow batches; if DuckDB refuses the query or a chunk, or a batch is
 * suspicious, the rest of the part comes from the exact parser, which drops the rows already yielded and
 * then names the error or hands each skipped record to `onInvalidRecord` with its exact location.
 */
export async function* duckdbOrExact(input: DuckdbBatchesInput): AsyncGenerator<RecordBatch> {
  const { connection, batchRows, signal } = input;
  let yielded = 0;
  let converter: ArrowChunkConverter | undefined;
  let result;
  try {
    result = await connection.stream(input.sql);
    converter = new ArrowChunkConverter(result.columnNames(), result.columnTypes());
  } catch {
    result = undefined;
  }
  for (;;) {
    signal?.throwIfAborted();
    let batch: RecordBatch | undefined;
    if (result !== undefined && converter !== undefined) {
      try {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) return;
        batch = converter.convert(chunk);
      } catch {
        batch = undefined;
      }
    }
    if (batch === undefined || input.suspicious(batch)) {
      yield* input.exactFrom(yielded);
      return;
    }
    for (let from = 0; from < batch.numRows; from += batchRows) {
      const piece = batch.numRows <= batchRows ? batch : batch.slice(from, from + batchRows);
      yielded += piece.numRows;
      yield piece;
    }
  }
}
