import {
  type ChunkDescriptor,
  type HiveColumn,
  type InputFormat,
  MAX_DESCRIPTOR_BYTES,
} from '../../schemas/chunk-descriptor.js';
import { hiveFolderOf, hivePrefix } from '../hive-partitions.js';
import { StorageNotFound } from '../ports/errors/storage-not-found.js';
import { normalizeUri } from '../ports/storage-uri.js';
import type { ObjectInfo, Storage } from '../ports/storage.js';
import { EmptyInputError } from './errors/empty-input-error.js';
import {
  type Candidate,
  type PlanOptions,
  makeChunkGrouper,
  makeSegmentCandidates,
  parquetCandidates,
} from './plan-chunks.js';
import { readAhead } from './read-ahead.js';
import type { InputReaders } from '../ports/input-readers.js';

/** What to plan: one object, or every object of the format under a prefix. */
export interface PlanInput {
  uri: string;
  format: InputFormat;
  /** Glob relative to the prefix (e.g. `dt=*\/*.parquet`); default: every object with the format's extension. */
  glob?: string;
  /** CSV: whether each object starts with a header record (default true). */
  header?: boolean;
  /** Whether `key=value` folders below the prefix become columns (each chunk carries their types). */
  hivePartitioning?: boolean;
}

export interface PlanInputOptions extends PlanOptions {
  /** Objects whose footers/boundaries are read at once (default 8). */
  concurrency?: number;
  /** Bytes per ranged read when scanning CSV for record starts (default 8 MiB). */
  scanBlockBytes?: number;
  /** Largest Parquet footer accepted (default 64 MiB); a larger one fails with `PARQUET_FOOTER_TOO_LARGE`. */
  maxFooterBytes?: number;
  signal?: AbortSignal;
}

const extensions: Record<InputFormat, RegExp> = {
  parquet: /\.(parquet|parq|pqt)$/i,
  arrow: /\.(arrow|arrows|feather|ipc)$/i,
  csv: /\.(csv|tsv|txt)$/i,
  jsonl: /\.(jsonl|ndjson|json)$/i,
};

/**
 * The objects a job reads, in URI order: the URI itself when it names an object, else everything under it
 * as a prefix, filtered by the glob or, without one, by the format's extensions, minus side files,
 * anything under a `_`/`.`-prefixed folder at any depth, and every job-output folder (one holding
 * `_manifest.json` or `_commits/`), so one job's output is never read as another's input.
 */
export async function listInput(
  storage: Storage,
  input: PlanInput,
  signal?: AbortSignal,
): Promise<ObjectInfo[]> {
  if (!input.uri.endsWith('/') && input.glob === undefined) {
    try {
      return [await storage.stat(input.uri, { signal })];
    } catch (error) {
      if (!(error instanceof StorageNotFound)) throw error;
    }
  }
  // Canonical, as listings return URIs: each object's path below the prefix is then exact.
  const prefix = normalizeUri(input.uri.endsWith('/') ? input.uri : `${input.uri}/`);
  const listed: ObjectInfo[] = [];
  /** Folders (relative, with a trailing `/`) that hold a job's output: never read back as input. */
  const outputFolders = new Set<string>();
  const listOptions = input.glob === undefined ? { signal } : { signal, glob: input.glob };
  for await (const object of storage.list(prefix, listOptions)) {
    const segments = object.uri.slice(prefix.length).split('/');
    const output = segments.findIndex(
      (s, i) => (s === '_manifest.json' && i === segments.length - 1) || s === '_commits',
    );
    if (output >= 0)
      outputFolders.add(
        segments
          .slice(0, output)
          .map((s) => `${s}/`)
          .join(''),
      );
    // Side files (`_SUCCESS`, `.crc`) and anything under a `_`- or `.`-prefixed folder, at any depth
    // (`_temporary/`, `_segments/`).
    if (segments.some((s) => s.startsWith('_') || s.startsWith('.'))) continue;
    if (input.glob === undefined && !extensions[input.format].test(object.uri)) continue;
    listed.push(object);
  }
  const objects = listed.filter((o) => ![...outputFolders].some((f) => o.uri.startsWith(prefix + f)));
  if (objects.length === 0) {
    throw new EmptyInputError(input.uri, input.glob, `no ${input.format} objects`);
  }
  return objects.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/**
 * Lists the input and plans its chunks, all of them (`streamInput`, collected).
 */
export async function planInput(
  storage: Storage,
  readers: InputReaders,
  input: PlanInput,
  options: PlanInputOptions,
): Promise<ChunkDescriptor[]> {
  const chunks: ChunkDescriptor[] = [];
  for await (const batch of streamInput(storage, readers, input, options)) chunks.push(...batch);
  return chunks;
}

/** Longest a closed chunk waits to be handed on with the ones after it (default of `flushMs`). */
const FLUSH_MS = 250;
/** Most chunks in one batch `streamInput` hands on. */
const MAX_BATCH = 1_000;

/**
 * Lists the input and plans its chunks as it reads what planning needs, handing them on in batches as
 * they close: the first chunk at once, later ones together every `flushMs` (or every 1,000), so a 10 GB CSV
 * queues its first chunk after one chunk's worth of scan, not the whole object's. Parquet: footers only
 * (ranged reads of each object's tail). CSV: one sequential scan per object to find record starts outside
 * quotes (and count rows). Arrow IPC: its record batches' headers (the file's footer index, or a
 * stream's message chain). JSONL: sizes alone. CSV and JSONL splits come from
 * `readers.textSplits`. Up to `concurrency` objects are read at once, in URI order; chunks and their
 * indices are the same however the batches fall.
 */
export async function* streamInput(
  storage: Storage,
  readers: InputReaders,
  input: PlanInput,
  options: PlanInputOptions & { flushMs?: number },
): AsyncGenerator<ChunkDescriptor[]> {
  const { signal } = options;
  const objects = await listInput(storage, input, signal);
  const typed = input.hivePartitioning ? await hiveColumnsOf(readers, input.uri, objects, signal) : [];
  const hive = typed.length > 0 ? typed : undefined;
  // Every descriptor carries the same column list: the cap on its JSON leaves room for it.
  const hiveBytes = hive ? JSON.stringify({ hive }).length : 0;
  const grouper = makeChunkGrouper(input.format, {
    ...options,
    maxDescriptorBytes: (options.maxDescriptorBytes ?? MAX_DESCRIPTOR_BYTES) - hiveBytes,
  });
  const withHive = (chunks: ChunkDescriptor[]) => (hive ? chunks.map((c) => ({ ...c, hive })) : chunks);
  const flushMs = options.flushMs ?? FLUSH_MS;
  let pending: ChunkDescriptor[] = [];
  let flushedAt = -Infinity;
  const pieces = readAhead(
    objects,
    options.concurrency ?? 8,
    (object, stop) => piecesOf(storage, readers, input, object, options, stop),
    signal,
  );
  for await (const piece of pieces) {
    pending.push(...grouper.add(piece));
    if (pending.length > 0 && (pending.length >= MAX_BATCH || performance.now() - flushedAt >= flushMs)) {
      yield withHive(pending);
      pending = [];
      flushedAt = performance.now();
    }
  }
  pending.push(...grouper.finish());
  if (pending.length > 0) yield withHive(pending);
}

/** The partition columns of the listed objects, typed once for the whole job over every distinct folder. */
async function hiveColumnsOf(
  readers: InputReaders,
  uri: string,
  objects: readonly ObjectInfo[],
  signal: AbortSignal | undefined,
): Promise<HiveColumn[]> {
  const prefix = hivePrefix(uri);
  const folders = [...new Set(objects.map((object) => hiveFolderOf(prefix, object.uri)))];
  return readers.hiveColumns(folders, { signal });
}

/** The pieces of one object, in order, as its footer or scan finds them. */
async function* piecesOf(
  storage: Storage,
  readers: InputReaders,
  input: PlanInput,
  object: ObjectInfo,
  options: PlanInputOptions,
  signal: AbortSignal,
): AsyncGenerator<Candidate> {
  const layout = { uri: object.uri, size: object.size, etag: object.etag };
  if (input.format === 'parquet') {
    const rowGroups = await readers.parquetRowGroups(storage, object, {
      signal,
      ...(options.maxFooterBytes === undefined ? {} : { maxFooterBytes: options.maxFooterBytes }),
    });
    yield* parquetCandidates({ ...layout, rowGroups });
    return;
  }
  if (object.size === 0) return;
  const candidateOf = makeSegmentCandidates(layout);
  const splits =
    input.format === 'arrow'
      ? readers.arrowSplits(storage, object, {
          signal,
          ...(options.maxFooterBytes === undefined ? {} : { maxFooterBytes: options.maxFooterBytes }),
        })
      : readers.textSplits(storage, object, input.format, {
          targetBytes: options.chunkBytes,
          targetRows: options.chunkRows,
          scanBlockBytes: options.scanBlockBytes ?? 8 * 1024 * 1024,
          header: input.header ?? true,
          signal,
        });
  for await (const split of splits) {
    const candidate = candidateOf(split);
    if (candidate) yield candidate;
  }
}
