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
import { IdempotencyConflict } from './errors/idempotency-conflict.js';
import { JobAlreadyExists } from './errors/job-already-exists.js';
import { JobNotFound } from './errors/job-not-found.js';

export interface CreateJobOptions {
  /** Default `crypto.randomUUID()`. */
  id?: string;
  /** Default `'default'`. */
  tenant?: string;
  /** Same tenant + key + spec → the existing job; same key, other spec → `IdempotencyConflict`. */
  idempotencyKey?: string;
}

export interface TransitionPatch {
  error?: JobRecord['error'];
  modelSha256?: string;
  manifestUri?: string;
}

export interface ChunkCommitResult {
  /** True only for the call that counted the chunk; a re-delivered chunk gets false. */
  first: boolean;
  chunksDone: number;
  chunksTotal: number;
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
  /** Counts chunk `index` done exactly once, however often and concurrently it is committed. */
  commitChunk(id: string, index: number, c: { rows: number; rejected: number }): Promise<ChunkCommitResult>;
  isCommitted(id: string, index: number): Promise<boolean>;
  /** Committed chunk indexes, ascending. */
  committedChunks(id: string): Promise<number[]>;
  /** Removes the record, its chunk set and its idempotency key (for tests and retention). */
  delete(id: string): Promise<void>;
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

// KEYS: job, [idempotency]. ARGV: id, field, value, …
// Replies {'created'}, {'exists'} (id taken) or {'idem', existingId}.
const createScript = luaScript(`
if KEYS[2] then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {'idem', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return {'created'}
`);

// KEYS: idempotency. ARGV: id. Drops a key whose job is gone (deleted, or lost with part of the data).
const releaseKeyScript = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`);

// KEYS: job. ARGV: to, now, comma-separated states allowed to move to 'to', setStartedAt, setFinishedAt,
// patch field, value, … Replies {'missing'}, {'same'}, {'invalid', from} or {'moved', from}.
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
if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
return {'moved', from}
`);

// KEYS: job. ARGV: chunksTotal, now. Replies 0 when there is no job.
const setChunksTotalScript = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'chunksTotal', ARGV[1], 'updatedAt', ARGV[2])
return 1
`);

// KEYS: job, chunks. ARGV: index, rows, rejected, now. Replies {first, chunksDone, chunksTotal}, or nil when
// there is no job. SADD decides "first" and the counters move only with it, in one script: a chunk can
// never be counted twice, whatever commits race.
const commitChunkScript = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local first = redis.call('SADD', KEYS[2], ARGV[1])
local done
if first == 1 then
  done = redis.call('HINCRBY', KEYS[1], 'chunksDone', 1)
  redis.call('HINCRBY', KEYS[1], 'rowsScored', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rowsRejected', ARGV[3])
  redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
else
  done = tonumber(redis.call('HGET', KEYS[1], 'chunksDone') or '0')
end
return {first, done, tonumber(redis.call('HGET', KEYS[1], 'chunksTotal') or '0')}
`);

// KEYS: job, chunks, [idempotency]. ARGV: id.
const deleteScript = luaScript(`
if KEYS[3] and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('DEL', KEYS[1], KEYS[2])
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
  return { chunksTotal, chunksDone, rowsScored, rowsRejected, rowsPerSecond, etaSeconds };
}

/**
 * A `JobStore` on Redis. Layout under `prefix` (hash-tagged, so one Cluster slot):
 * - `<prefix>:job:<id>` — hash: scalar fields, `spec` and `error` as JSON, counters as integers;
 * - `<prefix>:job:<id>:chunks` — set of committed chunk indexes;
 * - `<prefix>:idem:<tenant>:<key>` — the job id an idempotency key was first used for.
 */
export function makeRedisJobStore(
  redis: Redis,
  prefix: string,
  options: RedisJobStoreOptions = {},
): JobStore {
  const now = options.now ?? (() => new Date());
  const jobKey = (id: string): string => `${prefix}:job:${id}`;
  const chunksKey = (id: string): string => `${prefix}:job:${id}:chunks`;
  const idemKey = (tenant: string, key: string): string => `${prefix}:idem:${tenant}:${key}`;

  async function get(id: string): Promise<JobRecord | undefined> {
    const fields = await redis.hgetall(jobKey(id));
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
      const keys = [jobKey(id)];
      if (o.idempotencyKey !== undefined) keys.push(idemKey(tenant, o.idempotencyKey));

      // Twice at most: a key left behind by a deleted job is released once, then the create goes through.
      for (let attempt = 0; ; attempt++) {
        const reply = (await runScript(redis, createScript, keys, [
          id,
          ...Object.entries(fields).flat(),
        ])) as [string, string?];
        if (reply[0] === 'created') return { record: await mustGet(id), created: true };
        if (reply[0] === 'exists') throw new JobAlreadyExists(id);
        const existingId = reply[1] ?? '';
        const existing = await get(existingId);
        if (existing !== undefined) {
          if (existing.specDigest === digest) return { record: existing, created: false };
          throw new IdempotencyConflict(o.idempotencyKey ?? '', existingId);
        }
        const idem = keys[1];
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
      const reply = (await runScript(
        redis,
        transitionScript,
        [jobKey(id)],
        [
          to,
          at,
          predecessorsOf(to),
          to === 'planning' ? '1' : '0',
          isTerminal(to) ? '1' : '0',
          ...patchFields,
        ],
      )) as [string, string?];
      if (reply[0] === 'missing') throw new JobNotFound(id);
      if (reply[0] === 'invalid') assertTransition(jobStatusSchema.parse(reply[1]), to, id);
      return mustGet(id);
    },

    async setChunksTotal(id, chunksTotal) {
      assertCount('chunksTotal', chunksTotal);
      const set = await runScript(
        redis,
        setChunksTotalScript,
        [jobKey(id)],
        [chunksTotal, now().toISOString()],
      );
      if (set === 0) throw new JobNotFound(id);
    },

    async commitChunk(id, index, c) {
      assertCount('chunk index', index);
      assertCount('rows', c.rows);
      assertCount('rejected', c.rejected);
      const reply = (await runScript(
        redis,
        commitChunkScript,
        [jobKey(id), chunksKey(id)],
        [index, c.rows, c.rejected, now().toISOString()],
      )) as [number, number, number] | null;
      if (reply === null) throw new JobNotFound(id);
      return { first: reply[0] === 1, chunksDone: reply[1], chunksTotal: reply[2] };
    },

    async isCommitted(id, index) {
      return (await redis.sismember(chunksKey(id), String(index))) === 1;
    },

    async committedChunks(id) {
      const members = await redis.smembers(chunksKey(id));
      return members.map(Number).sort((a, b) => a - b);
    },

    async delete(id) {
      const [tenant, key] = await redis.hmget(jobKey(id), 'tenant', 'idempotencyKey');
      const keys = [jobKey(id), chunksKey(id)];
      if (tenant != null && key != null) keys.push(idemKey(tenant, key));
      await runScript(redis, deleteScript, keys, [id]);
    },
  };
}
