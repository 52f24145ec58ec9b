import type { ChunkReport } from '../../schemas/api.js';
import type { JobRecord, JobStatus } from '../../schemas/job-record.js';
import type { JobSpec } from '../../schemas/job-spec.js';

export interface CreateJobOptions {
  /** Default `crypto.randomUUID()`. */
  id?: string;
  /** Default `'default'`. */
  tenant?: string;
  /** Same tenant + key + spec → the existing job; same key, other spec → `IdempotencyConflict`. */
  idempotencyKey?: string;
  /**
   * Refuse (`TooManyActiveJobs`) when the tenant already has this many active jobs, checked in the same
   * atomic step that creates the job, so concurrent creates never overshoot. Default: no limit. A repeated
   * idempotency key returns its job whatever the count.
   */
  maxActiveJobs?: number;
}

export interface ListJobsOptions {
  /** Only this tenant's jobs. Default: every tenant's (operators). */
  tenant?: string;
  /** Only jobs in this state. */
  status?: JobStatus;
  /** Only jobs carrying every one of these labels with these values. */
  labels?: Readonly<Record<string, string>>;
  /** Page size. Default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. Throws `InvalidListCursor` for anything else. */
  cursor?: string;
  /**
   * Index entries examined at most per call. A selective filter may then return a short (even empty) page
   * with a `nextCursor` to go on from, instead of scanning every job of the tenant in one request.
   * Default 1000.
   */
  scanLimit?: number;
}

/** Jobs newest first; `nextCursor` is null once nothing older is left. */
export interface JobPage {
  jobs: JobRecord[];
  nextCursor: string | null;
}

export interface TransitionPatch {
  error?: JobRecord['error'];
  modelSha256?: string;
  manifestUri?: string;
  reportUri?: string;
  warnings?: JobRecord['warnings'];
}

export interface ChunkCommitResult {
  /**
   * `accepted`: the chunk is counted for this attempt (by this call when `first`; a resent call of the
   * same attempt gets `first: false`). `duplicate`: another attempt's commit was counted (a re-delivered
   * chunk). `stale`: refused — the attempt is no longer the chunk's current one, or the job is not in the
   * state the commit needs (`running`; `planning` for adoption). Only `accepted` commits are referenced.
   */
  outcome: 'accepted' | 'duplicate' | 'stale';
  /** True only for the call that counted the chunk. */
  first: boolean;
  chunksDone: number;
  chunksTotal: number;
  /**
   * True when, with this commit, the job's refused rows exceed `maxInvalidFraction` of its input rows
   * (known after planning): the job cannot succeed any more.
   */
  overLimit: boolean;
}

/** Where an attempt of a chunk stands: it may go on only while `current`. */
export type AttemptState = 'current' | 'superseded' | 'committed' | 'missing' | JobStatus;

/** What `beginAttempt` found. */
export type AttemptStart =
  | {
      state: 'started';
      /** Accepted segments of earlier attempts, in row order (`segmentRef`s). */ segments: string[];
    }
  | { state: 'committed' }
  | { state: 'stopped'; status: JobStatus | 'missing' };

export interface PlanFacts {
  chunksTotal: number;
  /** Rows of the whole input, when planning knows them all (Parquet, counted CSV). */
  inputRows?: number;
  /** The one model digest every chunk scores with (DESIGN invariant 8). */
  modelSha256?: string;
  /** Each challenger's digest, by name (`spec.challengers`). */
  challengerSha256?: Record<string, string>;
}

/** An attempt's resources, added to its job's usage; absent fields add nothing. */
export interface UsageDelta {
  cpuSeconds?: number;
  deviceSeconds?: number;
  bytesRead?: number;
  bytesWritten?: number;
  supersededAttempts?: number;
}

/** Terminal statuses, counted as jobs finish: they only ever grow (a deleted job stays counted). */
export type FinishedOutcome = 'succeeded' | 'failed' | 'cancelled' | 'expired';

export interface JobCounts {
  byStatus: Record<JobStatus, number>;
  finished: Record<FinishedOutcome, number>;
  /** Running jobs without progress since `stalledSince`. */
  stalled: number;
}

export interface RetryJobOptions {
  /** Refuse (`TooManyActiveJobs`) when the tenant already has this many active jobs. Default: no limit. */
  maxActiveJobs?: number;
}

/** A deadline to check: attempt `attempt` of job `jobId` (a retry gets a new entry, the old one is dropped). */
export interface DeadlineEntry {
  jobId: string;
  attempt: number;
}

/** A deadline's move: to `to`, only from one of `from`, only while the job is still on the entry's attempt. */
export interface DeadlineMove {
  to: 'expired' | 'failed';
  from: readonly JobStatus[];
  error: NonNullable<JobRecord['error']>;
}

/**
 * Job records and chunk bookkeeping. Holds descriptors and counters only, never data (DESIGN invariant 1);
 * every write that must not race is one atomic step (on Redis: services/queue/job-store.ts, one Lua script
 * each).
 */
export interface JobStore {
  create(spec: JobSpec, o?: CreateJobOptions): Promise<{ record: JobRecord; created: boolean }>;
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * Moves the job to `to` (throws `InvalidJobTransition` when the lifecycle forbids it, `JobNotFound` when
   * there is no job). Moving to the state it is already in returns the record unchanged, so a retried
   * processor does not fail; the patch then is ignored.
   */
  transition(id: string, to: JobStatus, patch?: TransitionPatch): Promise<JobRecord>;
  setChunksTotal(id: string, chunksTotal: number): Promise<void>;
  /** Records what planning found: the chunk count, and the input rows and model digest when known. */
  setPlan(id: string, plan: PlanFacts): Promise<void>;
  /**
   * Starts attempt `attempt` of chunk `index` (fencing token: from now on only it may commit the chunk's
   * segments or the chunk), while the job is `running` and the chunk not yet committed.
   */
  beginAttempt(id: string, index: number, attempt: string): Promise<AttemptStart>;
  /** Whether `attempt` is still the current attempt of a running job's uncommitted chunk (one round trip). */
  attemptState(id: string, index: number, attempt: string): Promise<AttemptState>;
  /**
   * Appends segment `ref` to the chunk's accepted chain, atomically and only while `attemptState` would
   * answer `current`; returns that state (`current` when accepted).
   */
  acceptSegment(id: string, index: number, attempt: string, ref: string): Promise<AttemptState>;
  /**
   * Counts chunk `index` done exactly once, however often and concurrently it is committed, and only for
   * its current attempt while the job is `running`; `maxInvalidFraction` makes the reply tell whether the
   * job's refused rows are now over its limit.
   */
  commitChunk(
    id: string,
    index: number,
    c: { rows: number; rejected: number; attempt: string; maxInvalidFraction?: number },
  ): Promise<ChunkCommitResult>;
  /**
   * Counts a chunk whose commit marker planning found in storage (Redis lost the job and it was
   * resubmitted): accepted only while the job is `planning`.
   */
  adoptChunk(
    id: string,
    index: number,
    c: { rows: number; rejected: number; attempt: string },
  ): Promise<ChunkCommitResult>;
  isCommitted(id: string, index: number): Promise<boolean>;
  /** Committed chunk indexes, ascending. */
  committedChunks(id: string): Promise<number[]>;
  /** The accepted attempt of every committed chunk: the only commit markers finalize reads. */
  acceptedCommits(id: string): Promise<Map<number, string>>;
  /**
   * Jobs newest first, a page at a time. Pages are cut at exact positions in a creation-ordered index, so
   * walking the cursors visits every job once, however many are created meanwhile (those come first).
   */
  list(options?: ListJobsOptions): Promise<JobPage>;
  /**
   * Every tenant's jobs created before `createdBefore`, oldest first, a page at a time (for retention).
   * Index entries whose record is gone are passed over.
   */
  listOldest(options: { createdBefore: Date; limit: number; cursor?: string }): Promise<JobPage>;
  /** How many of the tenant's jobs are not yet succeeded, failed or cancelled. */
  countActive(tenant: string): Promise<number>;
  /**
   * Adds an attempt's resource use to the job's `usage` (every attempt's, whatever its end). A job gone
   * meanwhile is left gone.
   */
  addUsage(id: string, delta: UsageDelta): Promise<void>;
  /** The job's chunks by state (a page of them) and its progress over time; undefined when there is no job. */
  chunkReport(id: string, page: { offset: number; limit: number }): Promise<ChunkReport | undefined>;
  /**
   * Every tenant's jobs by status, the finished totals, and the running jobs whose last progress (a chunk
   * or segment accepted, or the move to `running`) is older than `stalledSince`.
   */
  counts(options: { stalledSince: Date }): Promise<JobCounts>;
  /**
   * Takes a failed or cancelled job back to `queued` for another attempt, in one atomic step: the ended
   * attempt (status, times, error) goes to `previousAttempts`, `attempts` grows by one, the error and
   * finish time are cleared, the job rejoins its tenant's active set (refused with `TooManyActiveJobs` at
   * the limit) and gets the deadlines of its new attempt. The chunk bookkeeping is reset — accepted
   * commits, fencing tokens, segment chains, counts — so planning adopts the committed chunks again from
   * their markers in storage (the same check as after Redis lost a job: spec, model and input digests,
   * objects present) and queues the rest. The model digest stays. Throws `JobNotRetryable` naming the
   * state when the job is in another one, `JobNotFound` when there is none.
   */
  retry(id: string, o?: RetryJobOptions): Promise<JobRecord>;
  /** Deadline entries whose check is due at `now`, at most `limit`, earliest first. */
  dueDeadlines(now: Date, limit: number): Promise<DeadlineEntry[]>;
  /** Checks the entry again at `at` (unless it was dropped meanwhile). */
  rescheduleDeadline(entry: DeadlineEntry, at: Date): Promise<void>;
  /** Forgets the entry (its job ended, moved on to another attempt, or is gone). */
  dropDeadline(entry: DeadlineEntry): Promise<void>;
  /**
   * Moves the job as `move` says in one atomic compare-and-move — only when it is still on the entry's
   * attempt and in one of `move.from` — and drops the entry; returns the record when it moved the job.
   */
  enforceDeadline(entry: DeadlineEntry, move: DeadlineMove): Promise<JobRecord | undefined>;
  /** Removes the record, its chunk set, its idempotency key and its index entries (for tests and retention). */
  delete(id: string): Promise<void>;
}
