import type { ChunkScorer } from './ports/chunk-scorer.js';
import type { ChunkShares } from './ports/chunk-shares.js';
import type { CpuMeter } from './ports/cpu-meter.js';
import type { InputReaders } from './ports/input-readers.js';
import type { JobEvents } from './ports/job-events.js';
import type { OutputWriters } from './ports/output-writers.js';
import type { PipelineQueue } from './ports/pipeline-queue.js';
import type { JobRecord } from '../schemas/job-record.js';
import type { JobStore } from './ports/job-store.js';
import type { Log } from './ports/log.js';
import type { Metrics } from './ports/metrics.js';
import type { Storage } from './ports/storage.js';
import type { ScheduleRuns } from './ports/schedule-runs.js';

/** What the plan, score and finalize processors need; passed in, never global. */
export interface PipelineDeps {
  store: JobStore;
  storage: Storage;
  /**
   * The storage one tenant's job may use: every listing, read and write checked against the tenant's
   * grants (`QUIVER_TENANTS_FILE`; DESIGN invariant 9). Absent: `storage` for every tenant.
   */
  storageFor?: (tenant: string) => Storage;
  readers: InputReaders;
  writers: OutputWriters;
  scorers: ChunkScorer;
  queue: PipelineQueue;
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
  /**
   * Tenants' running-chunk shares (`limits.maxRunningChunks`): a chunk over its tenant's share throws
   * `ChunkDeferred` before its attempt begins. Absent: no tenant has a share.
   */
  chunkShares?: ChunkShares;
  /** The process's log; each unit of work writes through a child carrying its `{ jobId, chunk, attempt }`. */
  log: Log;
  /** Where chunks report rows and outcomes (the process's Prometheus registry). Absent: nothing is counted. */
  metrics?: Metrics;
  /** CPU seconds of each chunk attempt, for the job's usage. Absent: usage shows 0 CPU seconds. */
  cpu?: CpuMeter;
  /**
   * Status announcements: running chunks stop as soon as their job leaves `running` (the worker wires one
   * subscription per process). Absent: chunks re-check their attempt every quarter second.
   */
  events?: JobEvents;
  /**
   * Called after a job reaches a terminal state (and again when a re-run processor finds it there), e.g.
   * to queue its webhook delivery; must be idempotent.
   */
  onTerminal?: (record: JobRecord) => Promise<void>;
  /**
   * The schedules' runs, for `quality.baseline: "previous"` (the schedule's last succeeded run). Absent:
   * such a job has no baseline and only its null-fraction gate is checked.
   */
  scheduleRuns?: Pick<ScheduleRuns, 'page'>;
}

/** `deps` with `storage` scoped to the job's tenant (see `PipelineDeps.storageFor`). */
export function forTenant(deps: PipelineDeps, tenant: string): PipelineDeps {
  return deps.storageFor ? { ...deps, storage: deps.storageFor(tenant) } : deps;
}
