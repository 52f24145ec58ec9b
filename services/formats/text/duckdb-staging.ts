/**
 * What the DuckDB text readers (CSV: csv-duckdb-reader.ts, JSONL: jsonl-duckdb-reader.ts) share: a lazily
 * made DuckDB instance, staging a record-aligned part as a local file DuckDB can read, and streaming the
 * query's chunks as Arrow batches with a fall-back to the format's exact parser — from the first row DuckDB
 * did not yield — whenever DuckDB refuses the part or yields a batch the exact parser might read otherwise.
 */
import { randomUUID } from 'node:crypto';
import { constants, unlinkSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
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
  const staging = makeStagingFiles(options.tempDir ?? tmpdir());
  const duckdb = makeDuckdbConnector(options);
  return {
    knobs,
    staging,
    stageBlockBytes: options.stageBlockBytes ?? 16 * 1024 * 1024,
    minDuckdbBytes: options.minDuckdbBytes ?? 256 * 1024,
    duckdb,
    /** The reader's `close`: its idle staging files, then its DuckDB instance (safe twice). */
    close: async (): Promise<void> => {
      await staging.close();
      await duckdb.close();
    },
    exactFrom: (storage: Storage, part: ChunkPart, readOptions: ReadPartOptions, skip: number) =>
      skipRows(exact(storage, part, readOptions, knobs), skip),
  };
}

/** Idle staging files of every reader in this process, removed when it exits. */
const idleStagingFiles = new Set<string>();
process.once('exit', () => {
  for (const path of idleStagingFiles) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
});

/**
 * Staging files kept from one part to the next. A part is written over the pages of the file the previous
 * part used (renamed to a fresh `quiver-<uuid><extension>` path, so DuckDB never sees two parts under one
 * name) and cut to its length, instead of into a new file that is deleted afterwards: a deleted file's
 * page cache is freed, and on a VM whose balloon reports free memory to the host (Firecracker here) every
 * freed page costs a host fault when touched again — measured 2.1–2.3 ns a byte writing a fresh 768 MiB
 * file after a 15 s pause against 0.22–0.24 ns over pages in use (see README, Formats). At most `maxIdle`
 * files wait (one per part in flight); each holds the disk space of the largest part staged in it.
 */
export interface StagingFiles {
  /** A path to stage one part at: an idle file renamed there, or a new path. */
  take(extension: string): Promise<string>;
  /** The part is read: the file waits for the next part (or is removed past `maxIdle`, or once closed). */
  give(path: string): Promise<void>;
  /** Removes the idle files; later parts still stage, in files removed as they finish. */
  close(): Promise<void>;
}

export function makeStagingFiles(tempDir: string, maxIdle = 2): StagingFiles {
  const idle: string[] = [];
  let closed = false;
  return {
    async take(extension) {
      const path = join(tempDir, `quiver-${randomUUID()}${extension}`);
      const previous = idle.pop();
      if (previous !== undefined) {
        idleStagingFiles.delete(previous);
        // A file removed meanwhile (a temp cleaner) just means a new one.
        await rename(previous, path).catch(() => undefined);
      }
      return path;
    },
    async give(path) {
      if (closed || idle.length >= maxIdle) {
        await rm(path, { force: true });
        return;
      }
      idle.push(path);
      idleStagingFiles.add(path);
    },
    async close() {
      closed = true;
      const paths = idle.splice(0);
      for (const path of paths) idleStagingFiles.delete(path);
      await Promise.all(paths.map((path) => rm(path, { force: true })));
    },
  };
}

/**
 * Runs `read` with a staging path from `staging` and a way to open a DuckDB connection; afterwards the
 * connection is closed and the staging file handed back, however it ended.
 */
export async function* withStagedPart(
  staging: StagingFiles,
  extension: string,
  connector: { connect(): Promise<DuckDBConnection> },
  read: (path: string, connect: () => Promise<DuckDBConnection>) => AsyncIterable<RecordBatch>,
): AsyncGenerator<RecordBatch> {
  const path = await staging.take(extension);
  let connection: DuckDBConnection | undefined;
  try {
    yield* read(path, async () => (connection = await connector.connect()));
  } finally {
    connection?.closeSync();
    await staging.give(path);
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
 * then names it). A file already at `path` (a reused staging file) is written over, not truncated first
 * (which would free its pages), and cut to the part's length at the end.
 */
export async function stageRecords(input: StageInput): Promise<number | undefined> {
  const { uri, read, readInto, start, end, size, boundaries, knobs } = input;
  const handle = await open(input.path, constants.O_WRONLY | constants.O_CREAT);
  let written = 0;
  try {
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
    try {
      await handle.truncate(written);
    } finally {
      await handle.close();
    }
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
