import type { ChunkDescriptor } from '../schemas/chunk-descriptor.js';
import type { JobError, JobRecord } from '../schemas/job-record.js';
import type { FormatReaders } from '../services/formats/make-reader.js';
import type { JobStore } from '../services/queue/job-store.js';
import type { TuningCache } from '../services/scoring/auto-batch.js';
import type { ScorerPool } from '../services/scoring/scorer-pool.js';
import type { Storage } from './ports/storage.js';

/** How processors hand work to the next stage; the worker wires these to BullMQ queues. */
export interface Enqueue {
  chunks(jobId: string, chunks: ChunkDescriptor[], priority: number): Promise<void>;
  finalize(jobId: string): Promise<void>;
  /** Removes the job's queued (not running) chunks, e.g. once it failed; returns how many. */
  removeQueuedChunks(jobId: string, chunksTotal: number): Promise<number>;
}

/** What the plan, score and finalize processors need; passed in, never global. */
export interface PipelineDeps {
  store: JobStore;
  storage: Storage;
  /**
   * The storage one tenant's job may use: every listing, read and write checked against the tenant's
   * grants (`QUIVER_TENANTS_FILE`; DESIGN invariant 9). Absent: `storage` for every tenant.
   */
  storageFor?: (tenant: string) => Storage;
  readers: FormatReaders;
  scorers: ScorerPool;
  tuningCache?: TuningCache;
  enqueue: Enqueue;
  /**
   * Scoring time after which a chunk commits what it has scored so far as a segment (default 30 s): a
   * killed worker loses at most this much work; the re-run resumes after the last segment.
   */
  checkpointMs?: number;
  /**
   * Most chunks one job may plan (default 100,000, `QUIVER_MAX_CHUNKS_PER_JOB`): an input that makes more
   * fails at planning with `TOO_MANY_CHUNKS`.
   */
  maxChunksPerJob?: number;
  /** Largest Parquet footer planning reads (default 64 MiB): a larger one fails with `PARQUET_FOOTER_TOO_LARGE`. */
  maxFooterBytes?: number;
  log: (message: string, context?: Record<string, unknown>) => void;
  /**
   * Called after a job reaches a terminal state (and again when a re-run processor finds it there), e.g.
   * to queue its webhook delivery; must be idempotent.
   */
  onTerminal?: (record: JobRecord) => Promise<void>;
}

/** Codes of errors that retrying cannot fix: the job fails at once with the error's code and place. */
const permanentCodes = new Set([
  'PARQUET_INVALID',
  'ARROW_INVALID',
  'CSV_RAGGED_ROW',
  'CSV_INVALID',
  'JSONL_INVALID_JSON',
  'JSONL_INVALID_RECORD',
  'VALUE_INVALID',
  'SCHEMA_MISMATCH',
  'FEATURE_COLUMN_MISSING',
  'FEATURE_WIDTH_MISMATCH',
  'FEATURE_TYPE_UNSUPPORTED',
  'FEATURE_NULL',
  'FEATURE_MAPPING_AMBIGUOUS',
  'FEATURE_INPUT_UNKNOWN',
  'MODEL_OUTPUT_UNSUPPORTED',
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'MODEL_LOAD_FAILED',
  'MODEL_DIGEST_MISMATCH',
  'MODEL_CHANGED',
  'INPUT_CHANGED',
  'INPUT_EMPTY',
  'STORAGE_NOT_FOUND',
  'STORAGE_ACCESS_DENIED',
  'STORAGE_FORBIDDEN',
  'STORAGE_INVALID_URI',
  'INPUT_MISSING',
  'INPUT_UNKNOWN',
  'INPUT_TYPE_MISMATCH',
  'INPUT_SHAPE_MISMATCH',
  'OUTPUT_UNSUPPORTED',
  'DEVICE_UNAVAILABLE',
  'ROWS_REJECTED_OVER_LIMIT',
  'TOO_MANY_CHUNKS',
  'CSV_RECORD_TOO_LONG',
  'JSONL_RECORD_TOO_LONG',
  'MODEL_TOO_LARGE',
  'PARQUET_FOOTER_TOO_LARGE',
]);

export function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && permanentCodes.has(code);
}

/** The job record's `error` for a failure: its code, message and where it happened. */
export function jobErrorOf(error: unknown, chunk?: number): JobError {
  const e = error as {
    code?: unknown;
    message?: unknown;
    uri?: unknown;
    location?: { uri?: string; row?: number };
    where?: { row?: number };
  };
  const out: JobError = {
    code: typeof e?.code === 'string' ? e.code : 'INTERNAL',
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
  const uri = e?.location?.uri ?? (typeof e?.uri === 'string' ? e.uri : undefined);
  const row = e?.location?.row ?? e?.where?.row;
  if (uri !== undefined) out.uri = uri;
  if (row !== undefined) out.row = row;
  if (chunk !== undefined) out.chunk = chunk;
  return out;
}

/** `deps` with `storage` scoped to the job's tenant (see `PipelineDeps.storageFor`). */
export function forTenant(deps: PipelineDeps, tenant: string): PipelineDeps {
  return deps.storageFor ? { ...deps, storage: deps.storageFor(tenant) } : deps;
}
