import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { assertTransition, canTransition, isTerminal } from '../../jobs/job-state.js';
import {
  jobRecordSchema,
  jobStatusSchema,
  type JobProgress,
  type JobRecord,
  type JobStatus,
} from '../../schemas/job-record.js';
import { specDigest, type JobSpec } from '../../schemas/job-spec.js';
import { IdempotencyConflict } from '../../jobs/ports/errors/idempotency-conflict.js';
import { InvalidListCursor } from '../../jobs/ports/errors/invalid-list-cursor.js';
import { JobAlreadyExists } from '../../jobs/ports/errors/job-already-exists.js';
import { JobNotFound } from '../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../jobs/ports/errors/too-many-active-jobs.js';

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
}

/**
 * Job records and chunk bookkeeping. Holds descriptors and counters only, never data (DESIGN invariant 1);
 * every write that must not race is one atomic Redis script.
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
  /** Removes the record, its chunk set, its idempotency key and its index entries (for tests and retention). */
  delete(id: string): Promise<void>;
}

/**
 * Pub/sub channel on which every status change is published (the message is the job id), so a long-poll
 * wakes at once instead of polling. Not a key: Cluster broadcasts it.
 */
export function jobStatusChannel(prefix: string): string {
  return `${prefix}:job-status`;
}

export interface RedisJobStoreOptions {
  /** Clock for timestamps and progress rates. Default `() => new Date()`. */
  now?: () => Date;
}

/** A Lua script run by digest, loaded on first use (and again after a Redis restart flushed the cache). */
interface LuaScript {
  source: string;
  sha: string;
}

function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    // Redis reports an unknown digest only through the reply text; there is no error class to test for.
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return await redis.eval(script.source, keys.length, ...keys, ...args);
  }
}

// KEYS: job, tenant's active set, tenant's index, global index, [idempotency]. ARGV: id, max active jobs
// (0: no limit), index member, field, value, … Replies {'created'}, {'exists'} (id taken), {'idem', existingId}
// or {'full'} (the tenant is at its limit). The limit is checked here, with the write, so racing creates
// cannot overshoot it.
const createScript = luaScript(`
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'idem', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local limit = tonumber(ARGV[2])
if limit > 0 and redis.call('SCARD', KEYS[2]) >= limit then return {'full'} end
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
return {'created'}
`);

// KEYS: idempotency. ARGV: id. Drops a key whose job is gone (deleted, or lost with part of the data).
const releaseKeyScript = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`);

// KEYS: job, [tenant's active set: given when 'to' is terminal]. ARGV: to, now, comma-separated states
// allowed to move to 'to', setStartedAt, setFinishedAt, id, status channel, patch field, value, …
// Replies {'missing'}, {'same'}, {'invalid', from} or {'moved', from}. A terminal job leaves the active set
// in the same step, and every move is published for long-polls.
const transitionScript = luaScript(`
local from = redis.call('HGET', KEYS[1], 'status')
if not from then return {'missing'} end
if from == ARGV[1] then return {'same'} end
local allowed = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if state == from then allowed = true end
end
if not allowed then return {'invalid', from} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[2])
if ARGV[4] == '1' then redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[2]) end
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'finishedAt', ARGV[2]) end
if #ARGV > 7 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
if KEYS[2] then redis.call('SREM', KEYS[2], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ARGV[6])
return {'moved', from}
`);

// KEYS: job. ARGV: chunksTotal, now, [field, value, …]. Replies 0 when there is no job.
const setPlanScript = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'chunksTotal', ARGV[1], 'updatedAt', ARGV[2])
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
`);

// KEYS: job, commits, attempts, segments. ARGV: index, attempt. Makes the attempt the chunk's current one
// (its fencing token) while the job runs and the chunk is not committed; replies the accepted segments.
const beginAttemptScript = luaScript(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'committed'} end
if status ~= 'running' then return {'stopped', status} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {'started', redis.call('HGET', KEYS[4], ARGV[1]) or ''}
`);

// KEYS: job, commits, attempts, segments. ARGV: index, attempt, segment ref ('' only checks). Replies the
// attempt's state; the check and the append are one step: a segment is accepted only from the current
// attempt of a running job.
const attemptScript = luaScript(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
local chain = redis.call('HGET', KEYS[4], ARGV[1])
-- A resent append (ioredis resends a command whose reply a dropped connection lost) was accepted already.
if ARGV[3] ~= '' and chain and string.find(',' .. chain .. ',', ',' .. ARGV[3] .. ',', 1, true) then
  return 'current'
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'committed' end
if status ~= 'running' then return status end
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 'superseded' end
if ARGV[3] == '' then return 'current' end
redis.call('HSET', KEYS[4], ARGV[1], chain and (chain .. ',' .. ARGV[3]) or ARGV[3])
return 'current'
`);

// KEYS: job, commits, attempts. ARGV: index, attempt, rows, rejected, now, mode ('attempt' or 'adopt'),
// maxInvalidFraction (-1: none). Replies {outcome, chunksDone, chunksTotal, overLimit}, or {'missing'}.
// The fencing check, the exactly-once count and the counters move in one script: a chunk is counted at most
// once, and only for its current attempt (an adoption only while the job is planning).
const commitChunkScript = luaScript(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
local function reply(outcome, over)
  return {outcome, tonumber(redis.call('HGET', KEYS[1], 'chunksDone') or '0'),
    tonumber(redis.call('HGET', KEYS[1], 'chunksTotal') or '0'), over}
end
local accepted = redis.call('HGET', KEYS[2], ARGV[1])
-- The same attempt again (a resent command whose reply was lost): accepted, but counted only the first time.
if accepted == ARGV[2] then return reply('again', 0) end
if accepted then return reply('duplicate', 0) end
if ARGV[6] == 'adopt' then
  if status ~= 'planning' then return reply('stale', 0) end
else
  if status ~= 'running' or redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return reply('stale', 0) end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'chunksDone', 1)
redis.call('HINCRBY', KEYS[1], 'rowsScored', ARGV[3])
local rejected = redis.call('HINCRBY', KEYS[1], 'rowsRejected', ARGV[4])
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[5])
local over = 0
local fraction = tonumber(ARGV[7])
local inputRows = tonumber(redis.call('HGET', KEYS[1], 'inputRows') or '-1')
if fraction >= 0 and inputRows > 0 and rejected > fraction * inputRows then over = 1 end
return reply('accepted', over)
`);

// KEYS: job, chunks (before v0.2), tenant's active set, tenant's index, global index, idempotency (or a key
// never set), commits, attempts, segments. ARGV: id, index member.
const deleteScript = luaScript(`
if KEYS[6] and redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
return 0
`);

const statuses = jobStatusSchema.options;

/** States from which `to` may be entered: the lifecycle table stays in `jobs/job-state.ts` alone. */
function predecessorsOf(to: JobStatus): string {
  return statuses.filter((from) => canTransition(from, to)).join(',');
}

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** `<output.uri>/<id>/`: the prefix every object of the job lives under. */
function jobOutputUri(outputUri: string, id: string): string {
  return `${outputUri.replace(/\/+$/, '')}/${id}/`;
}

/**
 * Rates since the job started planning (until it finished). The ETA extrapolates the observed chunk rate
 * over the chunks left; it is null until the job is planned and has committed a chunk, and once it can no
 * longer finish (failed, cancelling, cancelled).
 */
function progressOf(fields: Record<string, string>, status: JobStatus, nowMs: number): JobProgress {
  const chunksTotal = Number(fields.chunksTotal ?? 0);
  const chunksDone = Number(fields.chunksDone ?? 0);
  const rowsScored = Number(fields.rowsScored ?? 0);
  const rowsRejected = Number(fields.rowsRejected ?? 0);
  const startedMs = fields.startedAt === undefined ? undefined : Date.parse(fields.startedAt);
  const endMs = fields.finishedAt === undefined ? nowMs : Date.parse(fields.finishedAt);
  const seconds = startedMs === undefined ? 0 : Math.max(0, (endMs - startedMs) / 1000);
  const rowsPerSecond = seconds > 0 ? Math.round((rowsScored / seconds) * 10) / 10 : 0;

  let etaSeconds: number | null = null;
  if (status === 'succeeded') etaSeconds = 0;
  else if (!isTerminal(status) && status !== 'cancelling' && fields.chunksTotal !== undefined) {
    const remaining = Math.max(0, chunksTotal - chunksDone);
    if (remaining === 0) etaSeconds = 0;
    else if (chunksDone > 0 && seconds > 0) etaSeconds = Math.ceil((remaining * seconds) / chunksDone);
  }
  const progress: JobProgress = {
    chunksTotal,
    chunksDone,
    rowsScored,
    rowsRejected,
    rowsPerSecond,
    etaSeconds,
  };
  if (fields.inputRows !== undefined) progress.rowsTotal = Number(fields.inputRows);
  return progress;
}

/** Zero-padded milliseconds: lexicographic order of index members is creation order. */
const CREATED_MS_DIGITS = 15;

/** A job's entry in the listing indexes: creation time, then the id to order jobs created in the same ms. */
function indexMember(createdAt: string, id: string): string {
  return `${String(Date.parse(createdAt)).padStart(CREATED_MS_DIGITS, '0')}:${id}`;
}

const encodeCursor = (member: string): string => Buffer.from(member, 'utf8').toString('base64url');

/** The index member a cursor stands for; throws `InvalidListCursor` for anything `encodeCursor` did not make. */
function decodeCursor(cursor: string): string {
  const member = Buffer.from(cursor, 'base64url').toString('utf8');
  const shape = new RegExp(`^\\d{${CREATED_MS_DIGITS}}:[^\\x00-\\x20]+$`);
  if (!shape.test(member) || encodeCursor(member) !== cursor) throw new InvalidListCursor(cursor);
  return member;
}

function hasLabels(record: JobRecord, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([key, value]) => record.spec.labels[key] === value);
}

/**
 * A `JobStore` on Redis. Layout under `prefix` (hash-tagged, so one Cluster slot):
 * - `<prefix>:job:<id>` — hash: scalar fields, `spec` and `error` as JSON, counters as integers;
 * - `<prefix>:job:<id>:commits` — hash: committed chunk index → the attempt whose commit was accepted;
 * - `<prefix>:job:<id>:attempts` — hash: chunk index → its current attempt (the fencing token);
 * - `<prefix>:job:<id>:segments` — hash: chunk index → its accepted checkpoint segments, comma-separated;
 * - `<prefix>:job:<id>:chunks` — before v0.2, the set of committed chunk indexes (only deleted now);
 * - `<prefix>:idem:<tenant>:<key>` — the job id an idempotency key was first used for;
 * - `<prefix>:tenant:<tenant>:active` — set of the tenant's jobs not yet terminal (for its limit);
 * - `<prefix>:tenant:<tenant>:jobs` and `<prefix>:jobs` — the tenant's and every job, as a sorted set of
 *   `<created ms>:<id>` members (all scored 0, ordered lexicographically) for listing newest first;
 * - channel `jobStatusChannel(prefix)` — each status change, published with the job id.
 */
export function makeRedisJobStore(
  redis: Redis,
  prefix: string,
  options: RedisJobStoreOptions = {},
): JobStore {
  const now = options.now ?? (() => new Date());
  const jobKey = (id: string): string => `${prefix}:job:${id}`;
  /** The set of committed chunk indexes that versions before v0.2 kept; only deleted now. */
  const chunksKey = (id: string): string => `${prefix}:job:${id}:chunks`;
  const commitsKey = (id: string): string => `${prefix}:job:${id}:commits`;
  const attemptsKey = (id: string): string => `${prefix}:job:${id}:attempts`;
  const segmentsKey = (id: string): string => `${prefix}:job:${id}:segments`;
  const idemKey = (tenant: string, key: string): string => `${prefix}:idem:${tenant}:${key}`;
  const activeKey = (tenant: string): string => `${prefix}:tenant:${tenant}:active`;
  const tenantIndexKey = (tenant: string): string => `${prefix}:tenant:${tenant}:jobs`;
  const globalIndexKey = `${prefix}:jobs`;
  const statusChannel = jobStatusChannel(prefix);

  async function get(id: string): Promise<JobRecord | undefined> {
    return recordOf(await redis.hgetall(jobKey(id)));
  }

  /** Records of `ids`, in one round trip; undefined where a job is gone. */
  async function getMany(ids: readonly string[]): Promise<(JobRecord | undefined)[]> {
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hgetall(jobKey(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, fields]) => {
      if (error) throw error;
      return recordOf(fields as Record<string, string>);
    });
  }

  function recordOf(fields: Record<string, string>): JobRecord | undefined {
    if (fields.status === undefined) return undefined;
    const status = jobStatusSchema.parse(fields.status);
    return jobRecordSchema.parse({
      id: fields.id,
      tenant: fields.tenant,
      status,
      spec: JSON.parse(fields.spec ?? 'null') as unknown,
      specDigest: fields.specDigest,
      createdAt: fields.createdAt,
      updatedAt: fields.updatedAt,
      startedAt: fields.startedAt,
      finishedAt: fields.finishedAt,
      progress: progressOf(fields, status, now().getTime()),
      output: { uri: fields.outputUri, manifestUri: fields.manifestUri },
      modelSha256: fields.modelSha256,
      error: fields.error === undefined ? undefined : (JSON.parse(fields.error) as unknown),
      idempotencyKey: fields.idempotencyKey,
    });
  }

  async function attemptCall(id: string, index: number, attempt: string, ref: string): Promise<AttemptState> {
    return (await runScript(
      redis,
      attemptScript,
      [jobKey(id), commitsKey(id), attemptsKey(id), segmentsKey(id)],
      [index, attempt, ref],
    )) as AttemptState;
  }

  async function countChunk(
    id: string,
    index: number,
    c: { rows: number; rejected: number; attempt: string },
    mode: 'attempt' | 'adopt',
    maxInvalidFraction: number | undefined,
  ): Promise<ChunkCommitResult> {
    assertCount('chunk index', index);
    assertCount('rows', c.rows);
    assertCount('rejected', c.rejected);
    const reply = (await runScript(
      redis,
      commitChunkScript,
      [jobKey(id), commitsKey(id), attemptsKey(id)],
      [index, c.attempt, c.rows, c.rejected, now().toISOString(), mode, maxInvalidFraction ?? -1],
    )) as [ChunkCommitResult['outcome'] | 'again' | 'missing', number, number, number];
    if (reply[0] === 'missing') throw new JobNotFound(id);
    return {
      outcome: reply[0] === 'again' ? 'accepted' : reply[0],
      first: reply[0] === 'accepted',
      chunksDone: reply[1],
      chunksTotal: reply[2],
      overLimit: reply[3] === 1,
    };
  }

  async function mustGet(id: string): Promise<JobRecord> {
    const record = await get(id);
    if (record === undefined) throw new JobNotFound(id);
    return record;
  }

  return {
    get,

    async create(spec, o = {}) {
      const id = o.id ?? randomUUID();
      const tenant = o.tenant ?? 'default';
      const digest = specDigest(spec);
      const createdAt = now().toISOString();
      const fields: Record<string, string> = {
        id,
        tenant,
        status: 'queued',
        spec: JSON.stringify(spec),
        specDigest: digest,
        createdAt,
        updatedAt: createdAt,
        outputUri: jobOutputUri(spec.output.uri, id),
        chunksDone: '0',
        rowsScored: '0',
        rowsRejected: '0',
      };
      if (o.idempotencyKey !== undefined) fields.idempotencyKey = o.idempotencyKey;
      const maxActive = o.maxActiveJobs ?? 0;
      if (o.maxActiveJobs !== undefined) assertCount('maxActiveJobs', o.maxActiveJobs);
      const keys = [jobKey(id), activeKey(tenant), tenantIndexKey(tenant), globalIndexKey];
      const idem = o.idempotencyKey === undefined ? undefined : idemKey(tenant, o.idempotencyKey);
      if (idem !== undefined) keys.push(idem);

      // Twice at most: a key left behind by a deleted job is released once, then the create goes through.
      for (let attempt = 0; ; attempt++) {
        const reply = (await runScript(redis, createScript, keys, [
          id,
          // 0 means "no limit" to the script, so a limit of 0 becomes "refuse every job".
          o.maxActiveJobs === 0 ? -1 : maxActive,
          indexMember(createdAt, id),
          ...Object.entries(fields).flat(),
        ])) as [string, string?];
        if (reply[0] === 'created') return { record: await mustGet(id), created: true };
        if (reply[0] === 'exists') throw new JobAlreadyExists(id);
        if (reply[0] === 'full') throw new TooManyActiveJobs(tenant, maxActive);
        const existingId = reply[1] ?? '';
        const existing = await get(existingId);
        if (existing !== undefined) {
          if (existing.specDigest === digest) return { record: existing, created: false };
          throw new IdempotencyConflict(o.idempotencyKey ?? '', existingId);
        }
        if (idem === undefined || attempt > 0) throw new JobNotFound(existingId);
        await runScript(redis, releaseKeyScript, [idem], [existingId]);
      }
    },

    async transition(id, to, patch = {}) {
      const at = now().toISOString();
      const patchFields: string[] = [];
      if (patch.error !== undefined) patchFields.push('error', JSON.stringify(patch.error));
      if (patch.modelSha256 !== undefined) patchFields.push('modelSha256', patch.modelSha256);
      if (patch.manifestUri !== undefined) patchFields.push('manifestUri', patch.manifestUri);
      const keys = [jobKey(id)];
      if (isTerminal(to)) {
        // A job's tenant never changes, so reading it ahead of the script cannot race.
        const tenant = await redis.hget(jobKey(id), 'tenant');
        if (tenant !== null) keys.push(activeKey(tenant));
      }
      const reply = (await runScript(redis, transitionScript, keys, [
        to,
        at,
        predecessorsOf(to),
        to === 'planning' ? '1' : '0',
        isTerminal(to) ? '1' : '0',
        id,
        statusChannel,
        ...patchFields,
      ])) as [string, string?];
      if (reply[0] === 'missing') throw new JobNotFound(id);
      if (reply[0] === 'invalid') assertTransition(jobStatusSchema.parse(reply[1]), to, id);
      return mustGet(id);
    },

    setChunksTotal(id, chunksTotal) {
      return this.setPlan(id, { chunksTotal });
    },

    async setPlan(id, plan) {
      assertCount('chunksTotal', plan.chunksTotal);
      const extra: string[] = [];
      if (plan.inputRows !== undefined) {
        assertCount('inputRows', plan.inputRows);
        extra.push('inputRows', String(plan.inputRows));
      }
      if (plan.modelSha256 !== undefined) extra.push('modelSha256', plan.modelSha256);
      const set = await runScript(
        redis,
        setPlanScript,
        [jobKey(id)],
        [plan.chunksTotal, now().toISOString(), ...extra],
      );
      if (set === 0) throw new JobNotFound(id);
    },

    async beginAttempt(id, index, attempt) {
      assertCount('chunk index', index);
      const reply = (await runScript(
        redis,
        beginAttemptScript,
        [jobKey(id), commitsKey(id), attemptsKey(id), segmentsKey(id)],
        [index, attempt],
      )) as [string, string?];
      if (reply[0] === 'committed') return { state: 'committed' };
      if (reply[0] === 'started') {
        const chain = reply[1] ?? '';
        return { state: 'started', segments: chain === '' ? [] : chain.split(',') };
      }
      return {
        state: 'stopped',
        status: reply[0] === 'missing' ? 'missing' : jobStatusSchema.parse(reply[1]),
      };
    },

    attemptState: (id, index, attempt) => attemptCall(id, index, attempt, ''),
    acceptSegment: (id, index, attempt, ref) => attemptCall(id, index, attempt, ref),

    commitChunk: (id, index, c) => countChunk(id, index, c, 'attempt', c.maxInvalidFraction),
    adoptChunk: (id, index, c) => countChunk(id, index, c, 'adopt', undefined),

    async isCommitted(id, index) {
      return (await redis.hexists(commitsKey(id), String(index))) === 1;
    },

    async committedChunks(id) {
      const members = await redis.hkeys(commitsKey(id));
      return members.map(Number).sort((a, b) => a - b);
    },

    async acceptedCommits(id) {
      const all = await redis.hgetall(commitsKey(id));
      return new Map(Object.entries(all).map(([index, attempt]) => [Number(index), attempt]));
    },

    async list(options = {}) {
      const limit = options.limit ?? 20;
      assertCount('limit', limit);
      const scanLimit = Math.max(1, options.scanLimit ?? 1000);
      const index = options.tenant === undefined ? globalIndexKey : tenantIndexKey(options.tenant);
      const filtered = options.status !== undefined || options.labels !== undefined;
      const matches = (record: JobRecord): boolean =>
        (options.tenant === undefined || record.tenant === options.tenant) &&
        (options.status === undefined || record.status === options.status) &&
        (options.labels === undefined || hasLabels(record, options.labels));

      const jobs: JobRecord[] = [];
      let after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
      let examined = 0;
      while (jobs.length < limit && examined < scanLimit) {
        // One more than needed tells, without another round trip, whether anything is left after the page.
        const want = Math.min(scanLimit - examined, filtered ? 100 : limit - jobs.length) + 1;
        const members = await redis.zrange(
          index,
          after === undefined ? '+' : `(${after}`,
          '-',
          'BYLEX',
          'REV',
          'LIMIT',
          0,
          want,
        );
        const records = await getMany(members.map((m) => m.slice(CREATED_MS_DIGITS + 1)));
        for (const [i, member] of members.entries()) {
          if (jobs.length === limit || examined === scanLimit) {
            return { jobs, nextCursor: after === undefined ? null : encodeCursor(after) };
          }
          examined += 1;
          after = member;
          const record = records[i];
          if (record !== undefined && matches(record)) jobs.push(record);
        }
        if (members.length < want) return { jobs, nextCursor: null };
      }
      // Stopped on a full page or the scan limit with the index not yet exhausted: peek for more.
      const rest =
        after === undefined
          ? 0
          : (await redis.zrange(index, `(${after}`, '-', 'BYLEX', 'REV', 'LIMIT', 0, 1)).length;
      return { jobs, nextCursor: rest > 0 && after !== undefined ? encodeCursor(after) : null };
    },

    async listOldest({ createdBefore, limit, cursor }) {
      assertCount('limit', limit);
      // Members are `<created ms, zero-padded>:<id>`: every one created before the cutoff sorts below it.
      const below = `(${String(createdBefore.getTime()).padStart(CREATED_MS_DIGITS, '0')}`;
      const from = cursor === undefined ? '-' : `(${decodeCursor(cursor)}`;
      const members = await redis.zrange(globalIndexKey, from, below, 'BYLEX', 'LIMIT', 0, limit);
      const records = await getMany(members.map((m) => m.slice(CREATED_MS_DIGITS + 1)));
      const last = members.at(-1);
      return {
        jobs: records.filter((r): r is JobRecord => r !== undefined),
        nextCursor: members.length === limit && last !== undefined ? encodeCursor(last) : null,
      };
    },

    async countActive(tenant) {
      return redis.scard(activeKey(tenant));
    },

    async delete(id) {
      const [tenant, key, createdAt] = await redis.hmget(jobKey(id), 'tenant', 'idempotencyKey', 'createdAt');
      if (tenant == null || createdAt == null) {
        await redis.del(jobKey(id), chunksKey(id), commitsKey(id), attemptsKey(id), segmentsKey(id));
        return;
      }
      const keys = [
        jobKey(id),
        chunksKey(id),
        activeKey(tenant),
        tenantIndexKey(tenant),
        globalIndexKey,
        // A key nobody sets stands in when the job had no idempotency key.
        key != null ? idemKey(tenant, key) : `${prefix}:idem:${tenant}:`,
        commitsKey(id),
        attemptsKey(id),
        segmentsKey(id),
      ];
      await runScript(redis, deleteScript, keys, [id, indexMember(createdAt, id)]);
    },
  };
}
