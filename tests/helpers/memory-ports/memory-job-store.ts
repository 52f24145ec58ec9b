import { randomUUID } from 'node:crypto';
import { jobOutputRoot } from '../../../jobs/output-layout.js';
import { OutputInUse } from '../../../jobs/ports/errors/output-in-use.js';
import { outputHoldOf } from '../../../services/queue/job-store.js';
import { type CommittedChunkFacts, chunkReportOf, progressOf, usageOf } from '../../../jobs/job-progress.js';
import { assertTransition, canRetry, isTerminal } from '../../../jobs/job-state.js';
import { firstDeadlineCheckMs } from '../../../jobs/deadlines/job-deadlines.js';
import { JobNotRetryable } from '../../../jobs/errors/job-not-retryable.js';
import { IdempotencyConflict } from '../../../jobs/ports/errors/idempotency-conflict.js';
import { JobAlreadyExists } from '../../../jobs/ports/errors/job-already-exists.js';
import { JobNotFound } from '../../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';
import type { Clock } from '../../../jobs/ports/clock.js';
import type {
  AttemptStart,
  AttemptState,
  ChunkCommitResult,
  JobCounts,
  JobPage,
  JobStore,
  UsageDelta,
} from '../../../jobs/ports/job-store.js';
import {
  type JobAttempt,
  type JobRecord,
  type JobStatus,
  jobRecordSchema,
  jobStatusSchema,
} from '../../../schemas/job-record.js';
import { type JobSpec, specDigest } from '../../../schemas/job-spec.js';
import { decodeCursor, encodeCursor, indexMember } from '../../../services/queue/job-list-cursor.js';
import type { MemoryJobEvents } from './memory-job-events.js';

/** One job as the Redis store keeps it: scalar fields and counters, plus its chunk bookkeeping. */
interface StoredJob {
  id: string;
  tenant: string;
  status: JobStatus;
  spec: JobSpec;
  specDigest: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  outputUri: string;
  manifestUri?: string;
  reportUri?: string;
  modelSha256?: string;
  challengerSha256?: Record<string, string>;
  error?: JobRecord['error'];
  warnings?: JobRecord['warnings'];
  idempotencyKey?: string;
  chunksTotal?: number;
  chunksDone: number;
  rowsScored: number;
  rowsRejected: number;
  inputRows?: number;
  /** Chunk index → the attempt whose commit was counted (the Redis `:commits` hash). */
  commits: Map<number, string>;
  /** Chunk index → its current attempt, the fencing token (`:attempts`). */
  attempts: Map<number, string>;
  /** Chunk index → its accepted segment refs in row order (`:segments`). */
  segments: Map<number, string[]>;
  /** Committed chunk index → its rows, refused rows and commit time (`:chunk-stats`). */
  chunkStats: Map<number, CommittedChunkFacts>;
  /** Chunk index → attempts begun (`:attempt-counts`). */
  attemptCounts: Map<number, number>;
  scoringStartedAt?: string;
  lastCommitAt?: string;
  /** The usage counters (`usage*` fields of the hash). */
  usage: Required<UsageDelta> & { retries: number };
  /** Ms of the last progress while running (`:running-progress`). */
  progressAtMs?: number;
  queuedAt?: string;
  /** The current attempt of the job (`attempts` in the record; absent before a retry). */
  attemptNumber?: number;
  previousAttempts?: JobAttempt[];
}

export interface MemoryJobStoreOptions {
  /** Clock for timestamps and progress rates. Default `() => new Date()`. */
  now?: Clock;
  /** Announces every status change, as the Redis store publishes it on its channel. */
  events?: MemoryJobEvents;
}

/** Runs one step as a promise: what it throws rejects, as a failed Redis call would. */
const step = <T>(run: () => T): Promise<T> => new Promise((resolve) => resolve(run()));

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/**
 * A {@link JobStore} in memory that keeps the Redis store's semantics step for step
 * (`services/queue/job-store.ts` and its Lua scripts): the lifecycle of `jobs/job-state.ts`, idempotency
 * keys, the tenant's active set, attempts as fencing tokens, exactly-once chunk counts and the accepted
 * segment chains. Every method is one synchronous step behind a promise, so it is as atomic as a script.
 */
export function makeMemoryJobStore(options: MemoryJobStoreOptions = {}): JobStore {
  const now = options.now ?? (() => new Date());
  const jobs = new Map<string, StoredJob>();
  /** `<tenant>\n<key>` → the job id the key was first used for (`:idem:<tenant>:<key>`). */
  const idempotency = new Map<string, string>();
  /** `:jobs-finished`: terminal status → jobs that reached it, never decremented. */
  const finished: JobCounts['finished'] = { succeeded: 0, failed: 0, cancelled: 0, expired: 0 };
  /** `:deadlines`: `<id>:<attempt>` → ms of its next check. */
  const deadlines = new Map<string, number>();
  const deadlineMember = (e: { jobId: string; attempt: number }): string => `${e.jobId}:${e.attempt}`;

  const recordOf = (job: StoredJob): JobRecord =>
    jobRecordSchema.parse({
      id: job.id,
      tenant: job.tenant,
      status: job.status,
      // A copy: a caller changing what it got must not change the store.
      spec: structuredClone(job.spec),
      specDigest: job.specDigest,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      progress: progressOf(
        {
          chunksTotal: job.chunksTotal,
          chunksDone: job.chunksDone,
          rowsScored: job.rowsScored,
          rowsRejected: job.rowsRejected,
          inputRows: job.inputRows,
          startedAt: job.startedAt,
          finishedAt: job.finishedAt,
        },
        job.status,
        now().getTime(),
      ),
      output: { uri: job.outputUri, manifestUri: job.manifestUri, reportUri: job.reportUri },
      modelSha256: job.modelSha256,
      challengerSha256: job.challengerSha256 === undefined ? undefined : { ...job.challengerSha256 },
      error: job.error === undefined ? undefined : structuredClone(job.error),
      warnings: job.warnings === undefined ? undefined : structuredClone(job.warnings),
      usage: usageOf(
        {
          scoringStartedAt: job.scoringStartedAt,
          lastCommitAt: job.lastCommitAt,
          ...job.usage,
          rowsScored: job.rowsScored,
        },
        job.status,
        now().getTime(),
      ),
      idempotencyKey: job.idempotencyKey,
      queuedAt: job.queuedAt,
      attempts: job.attemptNumber,
      previousAttempts: job.previousAttempts && structuredClone(job.previousAttempts),
    });

  const mustFind = (id: string): StoredJob => {
    const job = jobs.get(id);
    if (job === undefined) throw new JobNotFound(id);
    return job;
  };

  /** `job-attempt.lua`: the attempt's state and, given a ref, the append to the chunk's chain. */
  const attemptCall = (id: string, index: number, attempt: string, ref: string): AttemptState => {
    const job = jobs.get(id);
    if (job === undefined) return 'missing';
    const chain = job.segments.get(index);
    // A resent append was accepted already.
    if (ref !== '' && chain?.includes(ref)) return 'current';
    if (job.commits.has(index)) return 'committed';
    if (job.status !== 'running') return job.status;
    if (job.attempts.get(index) !== attempt) return 'superseded';
    if (ref !== '') {
      job.segments.set(index, [...(chain ?? []), ref]);
      job.progressAtMs = now().getTime();
    }
    return 'current';
  };

  /** `job-commit-chunk.lua`: the fencing check, the exactly-once count and the counters in one step. */
  const countChunk = (
    id: string,
    index: number,
    c: { rows: number; rejected: number; attempt: string },
    mode: 'attempt' | 'adopt',
    maxInvalidFraction: number | undefined,
  ): ChunkCommitResult => {
    assertCount('chunk index', index);
    assertCount('rows', c.rows);
    assertCount('rejected', c.rejected);
    const job = mustFind(id);
    const reply = (outcome: ChunkCommitResult['outcome'], first: boolean, overLimit: boolean) => ({
      outcome,
      first,
      chunksDone: job.chunksDone,
      chunksTotal: job.chunksTotal ?? 0,
      overLimit,
    });
    const accepted = job.commits.get(index);
    if (accepted === c.attempt) return reply('accepted', false, false);
    if (accepted !== undefined) return reply('duplicate', false, false);
    if (mode === 'adopt' ? job.status !== 'planning' : job.status !== 'running') {
      return reply('stale', false, false);
    }
    if (mode === 'attempt' && job.attempts.get(index) !== c.attempt) return reply('stale', false, false);
    job.commits.set(index, c.attempt);
    job.chunksDone += 1;
    job.rowsScored += c.rows;
    job.rowsRejected += c.rejected;
    const at = now();
    job.updatedAt = at.toISOString();
    job.lastCommitAt = job.updatedAt;
    job.chunkStats.set(index, { rows: c.rows, rejected: c.rejected, atMs: at.getTime() });
    if (job.progressAtMs !== undefined) job.progressAtMs = at.getTime();
    const fraction = maxInvalidFraction ?? -1;
    const inputRows = job.inputRows ?? -1;
    return reply('accepted', true, fraction >= 0 && inputRows > 0 && job.rowsRejected > fraction * inputRows);
  };

  const activeOf = (tenant: string): number =>
    [...jobs.values()].filter((j) => j.tenant === tenant && !isTerminal(j.status)).length;

  /** Index members newest first (`<created ms>:<id>`), as the Redis sorted sets order them. */
  const membersOf = (tenant: string | undefined): Array<{ member: string; job: StoredJob }> =>
    [...jobs.values()]
      .filter((j) => tenant === undefined || j.tenant === tenant)
      .map((job) => ({ member: indexMember(job.createdAt, job.id), job }))
      .sort((a, b) => (a.member < b.member ? 1 : a.member > b.member ? -1 : 0));

  const store: JobStore = {
    get(id) {
      const job = jobs.get(id);
      return Promise.resolve(job && recordOf(job));
    },

    create: (spec, o = {}) =>
      step(() => {
        const id = o.id ?? randomUUID();
        const tenant = o.tenant ?? 'default';
        const digest = specDigest(spec);
        if (o.maxActiveJobs !== undefined) assertCount('maxActiveJobs', o.maxActiveJobs);
        const idem = o.idempotencyKey === undefined ? undefined : `${tenant}\n${o.idempotencyKey}`;
        const existingId = idem === undefined ? undefined : idempotency.get(idem);
        if (existingId !== undefined) {
          const existing = jobs.get(existingId);
          if (existing !== undefined) {
            if (existing.specDigest === digest) return { record: recordOf(existing), created: false };
            throw new IdempotencyConflict(o.idempotencyKey ?? '', existingId);
          }
          // A key left behind by a deleted job is released, then the create goes through.
          idempotency.delete(idem!);
        }
        if (jobs.has(id)) throw new JobAlreadyExists(id);
        if (o.maxActiveJobs !== undefined && activeOf(tenant) >= o.maxActiveJobs) {
          throw new TooManyActiveJobs(tenant, o.maxActiveJobs);
        }
        // The Redis store's rule (job-create.lua): no two active jobs hold folders one inside the other.
        const hold = outputHoldOf(spec.output, id).folder;
        for (const other of jobs.values()) {
          if (isTerminal(other.status)) continue;
          const held = outputHoldOf(other.spec.output, other.id).folder;
          if (held.startsWith(hold) || hold.startsWith(held)) throw new OutputInUse(hold, other.id, held);
        }
        const createdAt = now().toISOString();
        const job: StoredJob = {
          id,
          tenant,
          status: 'queued',
          spec: structuredClone(spec),
          specDigest: digest,
          createdAt,
          updatedAt: createdAt,
          outputUri: jobOutputRoot(spec.output, id),
          chunksDone: 0,
          rowsScored: 0,
          rowsRejected: 0,
          commits: new Map(),
          attempts: new Map(),
          segments: new Map(),
          chunkStats: new Map(),
          attemptCounts: new Map(),
          usage: {
            cpuSeconds: 0,
            deviceSeconds: 0,
            bytesRead: 0,
            bytesWritten: 0,
            supersededAttempts: 0,
            retries: 0,
          },
        };
        if (o.idempotencyKey !== undefined) job.idempotencyKey = o.idempotencyKey;
        if (idem !== undefined) idempotency.set(idem, id);
        jobs.set(id, job);
        const check = firstDeadlineCheckMs(spec, Date.parse(createdAt));
        if (check !== undefined) deadlines.set(deadlineMember({ jobId: id, attempt: 1 }), check);
        return { record: recordOf(job), created: true };
      }),

    transition: (id, to, patch = {}) =>
      step(() => {
        const job = mustFind(id);
        if (job.status !== to) {
          assertTransition(job.status, to, id);
          const at = now().toISOString();
          const from = job.status;
          job.status = to;
          job.updatedAt = at;
          if (to === 'planning') job.startedAt ??= at;
          if (isTerminal(to)) {
            job.finishedAt = at;
            finished[to as keyof typeof finished] += 1;
          }
          if (to === 'running') job.progressAtMs = now().getTime();
          else if (from === 'running') delete job.progressAtMs;
          if (patch.error !== undefined) job.error = structuredClone(patch.error);
          if (patch.modelSha256 !== undefined) job.modelSha256 = patch.modelSha256;
          if (patch.manifestUri !== undefined) job.manifestUri = patch.manifestUri;
          if (patch.reportUri !== undefined) job.reportUri = patch.reportUri;
          if (patch.warnings !== undefined) job.warnings = structuredClone(patch.warnings);
          options.events?.announce(id);
        }
        return recordOf(job);
      }),

    setChunksTotal(id, chunksTotal) {
      return store.setPlan(id, { chunksTotal });
    },

    setPlan: (id, plan) =>
      step(() => {
        assertCount('chunksTotal', plan.chunksTotal);
        if (plan.inputRows !== undefined) assertCount('inputRows', plan.inputRows);
        const job = mustFind(id);
        job.chunksTotal = plan.chunksTotal;
        job.updatedAt = now().toISOString();
        if (plan.inputRows !== undefined) job.inputRows = plan.inputRows;
        if (plan.modelSha256 !== undefined) job.modelSha256 = plan.modelSha256;
        if (plan.challengerSha256 !== undefined) job.challengerSha256 = { ...plan.challengerSha256 };
      }),

    beginAttempt: (id, index, attempt) =>
      step((): AttemptStart => {
        assertCount('chunk index', index);
        const job = jobs.get(id);
        if (job === undefined) return { state: 'stopped', status: 'missing' };
        if (job.commits.has(index)) return { state: 'committed' };
        if (job.status !== 'running') return { state: 'stopped', status: job.status };
        job.attempts.set(index, attempt);
        const attempts = (job.attemptCounts.get(index) ?? 0) + 1;
        job.attemptCounts.set(index, attempts);
        if (attempts > 1) job.usage.retries += 1;
        job.scoringStartedAt ??= now().toISOString();
        return { state: 'started', segments: [...(job.segments.get(index) ?? [])] };
      }),

    attemptState(id, index, attempt) {
      return Promise.resolve(attemptCall(id, index, attempt, ''));
    },
    acceptSegment(id, index, attempt, ref) {
      return Promise.resolve(attemptCall(id, index, attempt, ref));
    },
    commitChunk(id, index, c) {
      return step(() => countChunk(id, index, c, 'attempt', c.maxInvalidFraction));
    },
    adoptChunk(id, index, c) {
      return step(() => countChunk(id, index, c, 'adopt', undefined));
    },

    isCommitted(id, index) {
      return Promise.resolve(jobs.get(id)?.commits.has(index) ?? false);
    },
    committedChunks(id) {
      return Promise.resolve([...(jobs.get(id)?.commits.keys() ?? [])].sort((a, b) => a - b));
    },
    acceptedCommits(id) {
      return Promise.resolve(new Map(jobs.get(id)?.commits ?? []));
    },

    list: (o = {}) =>
      step((): JobPage => {
        const limit = o.limit ?? 20;
        assertCount('limit', limit);
        const scanLimit = Math.max(1, o.scanLimit ?? 1000);
        const after = o.cursor === undefined ? undefined : decodeCursor(o.cursor);
        const entries = membersOf(o.tenant).filter(({ member }) => after === undefined || member < after);
        const page: JobPage = { jobs: [], nextCursor: null };
        let examined = 0;
        for (const [i, { job }] of entries.entries()) {
          if (page.jobs.length === limit || examined === scanLimit) {
            page.nextCursor = i > 0 ? encodeCursor(entries[i - 1]!.member) : null;
            return page;
          }
          examined += 1;
          const labels = o.labels ?? {};
          if (
            (o.status === undefined || job.status === o.status) &&
            Object.entries(labels).every(([k, v]) => job.spec.labels[k] === v)
          ) {
            page.jobs.push(recordOf(job));
          }
        }
        return page;
      }),

    listOldest: ({ createdBefore, limit, cursor }) =>
      step((): JobPage => {
        assertCount('limit', limit);
        const below = indexMember(createdBefore.toISOString(), '');
        const from = cursor === undefined ? undefined : decodeCursor(cursor);
        const entries = membersOf(undefined)
          .reverse()
          .filter(({ member }) => member < below && (from === undefined || member > from))
          .slice(0, limit);
        const last = entries.at(-1);
        return {
          jobs: entries.map(({ job }) => recordOf(job)),
          nextCursor: entries.length === limit && last !== undefined ? encodeCursor(last.member) : null,
        };
      }),

    countActive(tenant) {
      return Promise.resolve(activeOf(tenant));
    },

    retry: (id, o = {}) =>
      step(() => {
        const job = mustFind(id);
        if (!canRetry(job.status)) throw new JobNotRetryable(id, job.status);
        if (o.maxActiveJobs !== undefined && activeOf(job.tenant) >= o.maxActiveJobs)
          throw new TooManyActiveJobs(job.tenant, o.maxActiveJobs);
        // Active again: it takes its output folder's hold as a create does (job-retry.lua).
        const hold = outputHoldOf(job.spec.output, id).folder;
        for (const other of jobs.values()) {
          if (other.id === id || isTerminal(other.status)) continue;
          const held = outputHoldOf(other.spec.output, other.id).folder;
          if (held.startsWith(hold) || hold.startsWith(held)) throw new OutputInUse(hold, other.id, held);
        }
        const attempt = job.attemptNumber ?? 1;
        const ended: JobAttempt = { attempt, status: job.status };
        if (job.startedAt !== undefined) ended.startedAt = job.startedAt;
        if (job.finishedAt !== undefined) ended.finishedAt = job.finishedAt;
        if (job.error !== undefined) ended.error = job.error;
        const at = now();
        job.previousAttempts = [...(job.previousAttempts ?? []), ended];
        job.attemptNumber = attempt + 1;
        job.status = 'queued';
        job.updatedAt = at.toISOString();
        job.queuedAt = job.updatedAt;
        for (const field of [
          'startedAt',
          'finishedAt',
          'error',
          'warnings',
          'manifestUri',
          'reportUri',
          'chunksTotal',
          'inputRows',
          'scoringStartedAt',
          'lastCommitAt',
        ] as const)
          delete job[field];
        job.chunksDone = 0;
        job.rowsScored = 0;
        job.rowsRejected = 0;
        job.commits.clear();
        job.attempts.clear();
        job.segments.clear();
        job.chunkStats.clear();
        const check = firstDeadlineCheckMs(job.spec, at.getTime());
        if (check !== undefined) deadlines.set(deadlineMember({ jobId: id, attempt: attempt + 1 }), check);
        options.events?.announce(id);
        return recordOf(job);
      }),

    dueDeadlines: (at, limit) =>
      step(() =>
        [...deadlines.entries()]
          .filter(([, ms]) => ms <= at.getTime())
          .sort((a, b) => a[1] - b[1])
          .slice(0, limit)
          .map(([member]) => {
            const colon = member.lastIndexOf(':');
            return { jobId: member.slice(0, colon), attempt: Number(member.slice(colon + 1)) };
          }),
      ),

    rescheduleDeadline: (entry, at) =>
      step(() => {
        if (deadlines.has(deadlineMember(entry))) deadlines.set(deadlineMember(entry), at.getTime());
      }),

    dropDeadline: (entry) =>
      step(() => {
        deadlines.delete(deadlineMember(entry));
      }),

    enforceDeadline: (entry, move) =>
      step(() => {
        const job = jobs.get(entry.jobId);
        if (job === undefined) {
          deadlines.delete(deadlineMember(entry));
          return undefined;
        }
        if ((job.attemptNumber ?? 1) !== entry.attempt || !move.from.includes(job.status)) return undefined;
        const at = now().toISOString();
        const from = job.status;
        job.status = move.to;
        job.updatedAt = at;
        job.finishedAt = at;
        job.error = structuredClone(move.error);
        finished[move.to] += 1;
        if (from === 'running') delete job.progressAtMs;
        deadlines.delete(deadlineMember(entry));
        options.events?.announce(entry.jobId);
        return recordOf(job);
      }),

    addUsage: (id, delta) =>
      step(() => {
        const job = jobs.get(id);
        if (job === undefined) return;
        for (const key of Object.keys(delta) as (keyof UsageDelta)[]) {
          const value = delta[key] ?? 0;
          if (!Number.isFinite(value) || value < 0)
            throw new RangeError(`usage ${key} must be a non-negative number, got ${value}`);
          job.usage[key] += value;
        }
      }),

    chunkReport(id, page) {
      const job = jobs.get(id);
      if (job === undefined) return Promise.resolve(undefined);
      return Promise.resolve(
        chunkReportOf(
          {
            total: job.chunksTotal ?? 0,
            ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt }),
            committed: new Map([...job.commits.keys()].map((index) => [index, job.chunkStats.get(index)])),
            attempts: job.attemptCounts,
          },
          page,
        ),
      );
    },

    counts({ stalledSince }) {
      const byStatus = Object.fromEntries(
        jobStatusSchema.options.map((status) => [status, 0]),
      ) as JobCounts['byStatus'];
      let stalled = 0;
      for (const job of jobs.values()) {
        byStatus[job.status] += 1;
        if (job.progressAtMs !== undefined && job.progressAtMs < stalledSince.getTime()) stalled += 1;
      }
      return Promise.resolve({ byStatus, finished: { ...finished }, stalled });
    },

    delete(id) {
      const job = jobs.get(id);
      if (job?.idempotencyKey !== undefined) {
        const idem = `${job.tenant}\n${job.idempotencyKey}`;
        if (idempotency.get(idem) === id) idempotency.delete(idem);
      }
      jobs.delete(id);
      return Promise.resolve();
    },
  };
  return store;
}
