import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-connection.js';
import { type CommittedChunkFacts, chunkReportOf, progressOf, usageOf } from '../../jobs/job-progress.js';
import { assertTransition, canTransition, isTerminal, retryableStatuses } from '../../jobs/job-state.js';
import { firstDeadlineCheckMs } from '../../jobs/deadlines/job-deadlines.js';
import { JobNotRetryable } from '../../jobs/errors/job-not-retryable.js';
import type {
  AttemptState,
  ChunkCommitResult,
  DeadlineEntry,
  FinishedOutcome,
  JobCounts,
  JobStore,
  UsageDelta,
} from '../../jobs/ports/job-store.js';
import {
  jobRecordSchema,
  jobStatusSchema,
  type JobRecord,
  type JobStatus,
} from '../../schemas/job-record.js';
import { type JobSpec, specDigest } from '../../schemas/job-spec.js';
import { jobOutputRoot } from '../../jobs/output-layout.js';
import { OutputInUse } from '../../jobs/ports/errors/output-in-use.js';
import { normalizeUri } from '../../jobs/ports/storage-uri.js';
import { IdempotencyConflict } from '../../jobs/ports/errors/idempotency-conflict.js';
import { JobAlreadyExists } from '../../jobs/ports/errors/job-already-exists.js';
import { JobNotFound } from '../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../jobs/ports/errors/too-many-active-jobs.js';
import { CREATED_MS_DIGITS, decodeCursor, encodeCursor, indexMember, jobIdOf } from './job-list-cursor.js';
import { defineQuiverCommands } from './lua-commands.js';
import { type Clock, systemClock } from '../../jobs/ports/clock.js';

/**
 * Pub/sub channel on which every status change is published (the message is the job id), so a long-poll
 * wakes at once instead of polling. Not a key: Cluster broadcasts it.
 */
export function jobStatusChannel(prefix: string): string {
  return `${prefix}:job-status`;
}

export interface RedisJobStoreOptions {
  /** Clock for timestamps and progress rates. Default `() => new Date()`. */
  now?: Clock;
}

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

/**
 * The Redis keys of the output-folder holds (`OUTPUT_IN_USE`), named here alone: `folders` is a hash from
 * each held folder to the job holding it, `ordered` the same folders as a sorted set (every score 0) so a
 * prefix range finds the folders inside one. Every script that makes a job active again (retry) takes the
 * hold as `job-create.lua` does; every move to a terminal state releases it if it is still the job's own.
 */
export function outputHoldKeys(prefix: string): { folders: string; ordered: string } {
  return { folders: `${prefix}:output-folders`, ordered: `${prefix}:output-folders-ordered` };
}

/**
 * The folder a job holds while active — its record's `output.uri`: `<uri>/<id>/` (`job` layout) or
 * `<uri>/` (`exact`), canonical (`normalizeUri`), slashes collapsed, with its trailing `/` — and every
 * folder above it down to the bucket (`s3://b/`) or the file system's root, outermost first. Two active
 * jobs never hold folders where one is, or lies inside, the other.
 */
export function outputHoldOf(
  output: Pick<JobSpec['output'], 'uri' | 'layout'>,
  id: string,
): { folder: string; parents: string[] } {
  let root = jobOutputRoot(output, id);
  try {
    // One spelling per place: a plain path and its file:// URI hold the same folder.
    root = normalizeUri(root);
  } catch {
    // Not a storage URI: submission refuses it; the folder is held as written meanwhile.
  }
  const scheme = root.indexOf('://');
  const start = scheme < 0 ? 0 : scheme + 3;
  const folder = root.slice(0, start) + root.slice(start).replace(/\/{2,}/g, '/');
  const parents: string[] = [];
  for (let i = folder.indexOf('/', start); i >= 0 && i < folder.length - 1; i = folder.indexOf('/', i + 1))
    parents.push(folder.slice(0, i + 1));
  return { folder, parents };
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
 * - `<prefix>:job:<id>:chunk-stats` — hash: committed chunk index → `rows,rejected,committed ms`;
 * - `<prefix>:job:<id>:attempt-counts` — hash: chunk index → attempts begun;
 * - `<prefix>:job:<id>:chunks` — before v0.2, the set of committed chunk indexes (only deleted now);
 * - `<prefix>:idem:<tenant>:<key>` — the job id an idempotency key was first used for;
 * - `<prefix>:tenant:<tenant>:active` — set of the tenant's jobs not yet terminal (for its limit);
 * - `<prefix>:output-folders` — hash: output folder → the active job holding it, and
 *   `<prefix>:output-folders-ordered` the same folders as a sorted set (`outputHoldKeys`, `OUTPUT_IN_USE`);
 * - `<prefix>:tenant:<tenant>:jobs` and `<prefix>:jobs` — the tenant's and every job, as a sorted set of
 *   `<created ms>:<id>` members (all scored 0, ordered lexicographically) for listing newest first;
 * - `<prefix>:deadlines` — sorted set: `<id>:<attempt>` → ms when the attempt's deadline
 *   (`timeoutSeconds`, `expiresAfterSeconds`) is next looked at (`jobs/deadlines/enforce-deadlines.ts`);
 * - `<prefix>:job-counts` — hash: status → jobs in it (made once from the records by `job-recount`, then
 *   kept by every create, move and delete); `<prefix>:jobs-finished` — hash: terminal status → jobs that
 *   reached it (only grows); `<prefix>:running-progress` — sorted set: running job id → ms of its last
 *   progress (for the stalled-jobs gauge);
 * - channel `jobStatusChannel(prefix)` — each status change, published with the job id.
 */
export function makeRedisJobStore(
  redis: RedisClient,
  prefix: string,
  options: RedisJobStoreOptions = {},
): JobStore {
  const now = options.now ?? systemClock;
  const jobKey = (id: string): string => `${prefix}:job:${id}`;
  /** The set of committed chunk indexes that versions before v0.2 kept; only deleted now. */
  const chunksKey = (id: string): string => `${prefix}:job:${id}:chunks`;
  const commitsKey = (id: string): string => `${prefix}:job:${id}:commits`;
  const attemptsKey = (id: string): string => `${prefix}:job:${id}:attempts`;
  const segmentsKey = (id: string): string => `${prefix}:job:${id}:segments`;
  const chunkStatsKey = (id: string): string => `${prefix}:job:${id}:chunk-stats`;
  const attemptCountsKey = (id: string): string => `${prefix}:job:${id}:attempt-counts`;
  const countsKey = `${prefix}:job-counts`;
  const finishedKey = `${prefix}:jobs-finished`;
  const runningKey = `${prefix}:running-progress`;
  const deadlinesKey = `${prefix}:deadlines`;
  const deadlineMember = (e: DeadlineEntry): string => `${e.jobId}:${e.attempt}`;
  const idemKey = (tenant: string, key: string): string => `${prefix}:idem:${tenant}:${key}`;
  const activeKey = (tenant: string): string => `${prefix}:tenant:${tenant}:active`;
  const tenantIndexKey = (tenant: string): string => `${prefix}:tenant:${tenant}:jobs`;
  const globalIndexKey = `${prefix}:jobs`;
  const holdKeys = outputHoldKeys(prefix);
  const statusChannel = jobStatusChannel(prefix);
  const lua = defineQuiverCommands(redis);

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
    const nowMs = now().getTime();
    const number = (field: string): number => Number(fields[field] ?? 0);
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
      progress: progressOf(
        {
          chunksTotal: fields.chunksTotal === undefined ? undefined : Number(fields.chunksTotal),
          chunksDone: Number(fields.chunksDone ?? 0),
          rowsScored: Number(fields.rowsScored ?? 0),
          rowsRejected: Number(fields.rowsRejected ?? 0),
          inputRows: fields.inputRows === undefined ? undefined : Number(fields.inputRows),
          startedAt: fields.startedAt,
          finishedAt: fields.finishedAt,
        },
        status,
        nowMs,
      ),
      usage: usageOf(
        {
          scoringStartedAt: fields.scoringStartedAt,
          lastCommitAt: fields.lastCommitAt,
          cpuSeconds: number('usageCpuSeconds'),
          deviceSeconds: number('usageDeviceSeconds'),
          bytesRead: number('usageBytesRead'),
          bytesWritten: number('usageBytesWritten'),
          retries: number('usageRetries'),
          supersededAttempts: number('usageSuperseded'),
          rowsScored: number('rowsScored'),
        },
        status,
        nowMs,
      ),
      output: { uri: fields.outputUri, manifestUri: fields.manifestUri, reportUri: fields.reportUri },
      modelSha256: fields.modelSha256,
      challengerSha256:
        fields.challengerSha256 === undefined
          ? undefined
          : (JSON.parse(fields.challengerSha256) as Record<string, string>),
      error: fields.error === undefined ? undefined : (JSON.parse(fields.error) as unknown),
      warnings: fields.warnings === undefined ? undefined : (JSON.parse(fields.warnings) as unknown),
      idempotencyKey: fields.idempotencyKey,
      queuedAt: fields.queuedAt,
      attempts: fields.attempts === undefined ? undefined : Number(fields.attempts),
      previousAttempts:
        fields.previousAttempts === undefined ? undefined : (JSON.parse(fields.previousAttempts) as unknown),
    });
  }

  async function attemptCall(id: string, index: number, attempt: string, ref: string): Promise<AttemptState> {
    return lua.run(
      'job-attempt',
      [jobKey(id), commitsKey(id), attemptsKey(id), segmentsKey(id), runningKey],
      [index, attempt, ref, id, now().getTime()],
    );
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
    const at = now();
    const reply = await lua.run(
      'job-commit-chunk',
      [jobKey(id), commitsKey(id), attemptsKey(id), runningKey, chunkStatsKey(id)],
      [
        index,
        c.attempt,
        c.rows,
        c.rejected,
        at.toISOString(),
        mode,
        maxInvalidFraction ?? -1,
        id,
        at.getTime(),
      ],
    );
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
      const hold = outputHoldOf(spec.output, id);
      const fields: Record<string, string> = {
        id,
        tenant,
        status: 'queued',
        spec: JSON.stringify(spec),
        specDigest: digest,
        createdAt,
        updatedAt: createdAt,
        outputUri: jobOutputRoot(spec.output, id),
        outputFolder: hold.folder,
        chunksDone: '0',
        rowsScored: '0',
        rowsRejected: '0',
      };
      if (o.idempotencyKey !== undefined) fields.idempotencyKey = o.idempotencyKey;
      if (o.maxActiveJobs !== undefined) assertCount('maxActiveJobs', o.maxActiveJobs);
      const keys = [
        jobKey(id),
        activeKey(tenant),
        tenantIndexKey(tenant),
        globalIndexKey,
        countsKey,
        holdKeys.folders,
        holdKeys.ordered,
        deadlinesKey,
      ];
      const idem = o.idempotencyKey === undefined ? undefined : idemKey(tenant, o.idempotencyKey);
      const deadlineCheck = firstDeadlineCheckMs(spec, Date.parse(createdAt));
      if (idem !== undefined) keys.push(idem);

      // Twice at most: a key left behind by a deleted job is released once, then the create goes through.
      for (let attempt = 0; ; attempt++) {
        const reply = await lua.run('job-create', keys, [
          id,
          // -1: no limit. (A limit of 0 refuses every job; it used to be sent as -1 and refuse none.)
          o.maxActiveJobs ?? -1,
          indexMember(createdAt, id),
          hold.folder,
          hold.parents.join('\n'),
          jobKey(''),
          deadlineCheck ?? '',
          deadlineMember({ jobId: id, attempt: 1 }),
          ...Object.entries(fields).flat(),
        ]);
        if (reply[0] === 'created') return { record: await mustGet(id), created: true };
        if (reply[0] === 'exists') throw new JobAlreadyExists(id);
        if (reply[0] === 'full') throw new TooManyActiveJobs(tenant, o.maxActiveJobs ?? 0);
        if (reply[0] === 'in-use') throw new OutputInUse(hold.folder, reply[1], reply[2]);
        const existingId = reply[1];
        const existing = await get(existingId);
        if (existing !== undefined) {
          if (existing.specDigest === digest) return { record: existing, created: false };
          throw new IdempotencyConflict(o.idempotencyKey ?? '', existingId);
        }
        if (idem === undefined || attempt > 0) throw new JobNotFound(existingId);
        await lua.run('job-release-key', [idem], [existingId]);
      }
    },

    async transition(id, to, patch = {}) {
      const moment = now();
      const at = moment.toISOString();
      const patchFields: string[] = [];
      if (patch.error !== undefined) patchFields.push('error', JSON.stringify(patch.error));
      if (patch.modelSha256 !== undefined) patchFields.push('modelSha256', patch.modelSha256);
      if (patch.manifestUri !== undefined) patchFields.push('manifestUri', patch.manifestUri);
      if (patch.reportUri !== undefined) patchFields.push('reportUri', patch.reportUri);
      if (patch.warnings !== undefined) patchFields.push('warnings', JSON.stringify(patch.warnings));
      const keys = [jobKey(id), countsKey, finishedKey, runningKey];
      if (isTerminal(to)) {
        // A job's tenant never changes, so reading it ahead of the script cannot race.
        const tenant = await redis.hget(jobKey(id), 'tenant');
        if (tenant !== null) keys.push(activeKey(tenant), holdKeys.folders, holdKeys.ordered);
      }
      const reply = await lua.run('job-transition', keys, [
        to,
        at,
        predecessorsOf(to),
        to === 'planning' ? '1' : '0',
        isTerminal(to) ? '1' : '0',
        id,
        statusChannel,
        moment.getTime(),
        ...patchFields,
      ]);
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
      if (plan.challengerSha256 !== undefined)
        extra.push('challengerSha256', JSON.stringify(plan.challengerSha256));
      const set = await lua.run(
        'job-set-plan',
        [jobKey(id)],
        [plan.chunksTotal, now().toISOString(), ...extra],
      );
      if (set === 0) throw new JobNotFound(id);
    },

    async beginAttempt(id, index, attempt) {
      assertCount('chunk index', index);
      const reply = await lua.run(
        'job-begin-attempt',
        [jobKey(id), commitsKey(id), attemptsKey(id), segmentsKey(id), attemptCountsKey(id)],
        [index, attempt, now().toISOString()],
      );
      if (reply[0] === 'committed') return { state: 'committed' };
      if (reply[0] === 'started') {
        const chain = reply[1];
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
        const records = await getMany(members.map(jobIdOf));
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
      const records = await getMany(members.map(jobIdOf));
      const last = members.at(-1);
      return {
        jobs: records.filter((r): r is JobRecord => r !== undefined),
        nextCursor: members.length === limit && last !== undefined ? encodeCursor(last) : null,
      };
    },

    async addUsage(id, delta) {
      const fields = usageFields(delta);
      if (fields.length > 0) await lua.run('job-add-usage', [jobKey(id)], fields);
    },

    async chunkReport(id, page) {
      const [[, fields], [, commits], [, stats], [, attempts]] = (await redis
        .multi()
        .hmget(jobKey(id), 'status', 'chunksTotal', 'startedAt')
        .hkeys(commitsKey(id))
        .hgetall(chunkStatsKey(id))
        .hgetall(attemptCountsKey(id))
        .exec()) as [
        [null, (string | null)[]],
        [null, string[]],
        [null, Record<string, string>],
        [null, Record<string, string>],
      ];
      const [status, chunksTotal, startedAt] = fields;
      if (status == null) return undefined;
      const committed = new Map<number, CommittedChunkFacts | undefined>();
      for (const index of commits) {
        const [rows, rejected, atMs] = (stats[index] ?? '').split(',').map(Number);
        committed.set(
          Number(index),
          rows === undefined || rejected === undefined || atMs === undefined || Number.isNaN(atMs)
            ? undefined
            : { rows, rejected, atMs },
        );
      }
      return chunkReportOf(
        {
          total: Number(chunksTotal ?? 0),
          ...(startedAt == null ? {} : { startedAt }),
          committed,
          attempts: new Map(Object.entries(attempts).map(([index, n]) => [Number(index), Number(n)])),
        },
        page,
      );
    },

    async counts({ stalledSince }) {
      await lua.run(
        'job-recount',
        [countsKey, finishedKey, globalIndexKey, runningKey],
        [
          `${prefix}:job:`,
          now().getTime(),
          statuses.join(','),
          statuses.filter(isTerminal).join(','),
          CREATED_MS_DIGITS,
        ],
      );
      const [[, byStatus], [, finished], [, stalled]] = (await redis
        .multi()
        .hgetall(countsKey)
        .hgetall(finishedKey)
        .zcount(runningKey, '-inf', `(${stalledSince.getTime()}`)
        .exec()) as [[null, Record<string, string>], [null, Record<string, string>], [null, number]];
      const counts = Object.fromEntries(
        statuses.map((status) => [status, Math.max(0, Number(byStatus[status] ?? 0))]),
      ) as JobCounts['byStatus'];
      const outcomes: FinishedOutcome[] = ['succeeded', 'failed', 'cancelled', 'expired'];
      return {
        byStatus: counts,
        finished: Object.fromEntries(
          outcomes.map((outcome) => [outcome, Number(finished[outcome] ?? 0)]),
        ) as JobCounts['finished'],
        stalled,
      };
    },

    async retry(id, o = {}) {
      if (o.maxActiveJobs !== undefined) assertCount('maxActiveJobs', o.maxActiveJobs);
      const [tenant, specJson] = await redis.hmget(jobKey(id), 'tenant', 'spec');
      if (tenant == null || specJson == null) throw new JobNotFound(id);
      const moment = now();
      const spec = jobRecordSchema.shape.spec.parse(JSON.parse(specJson));
      const hold = outputHoldOf(spec.output, id);
      const reply = await lua.run(
        'job-retry',
        [
          jobKey(id),
          commitsKey(id),
          attemptsKey(id),
          segmentsKey(id),
          chunkStatsKey(id),
          chunksKey(id),
          activeKey(tenant),
          countsKey,
          deadlinesKey,
          holdKeys.folders,
          holdKeys.ordered,
        ],
        [
          id,
          moment.toISOString(),
          retryableStatuses.join(','),
          o.maxActiveJobs ?? -1,
          statusChannel,
          firstDeadlineCheckMs(spec, moment.getTime()) ?? 0,
          hold.folder,
          hold.parents.join('\n'),
          `${prefix}:job:`,
        ],
      );
      if (reply[0] === 'missing') throw new JobNotFound(id);
      if (reply[0] === 'invalid') throw new JobNotRetryable(id, jobStatusSchema.parse(reply[1]));
      if (reply[0] === 'full') throw new TooManyActiveJobs(tenant, o.maxActiveJobs ?? 0);
      if (reply[0] === 'in-use') throw new OutputInUse(hold.folder, reply[1], reply[2]);
      return mustGet(id);
    },

    async dueDeadlines(at, limit) {
      const members = await redis.zrangebyscore(deadlinesKey, '-inf', at.getTime(), 'LIMIT', 0, limit);
      return members.flatMap((member) => {
        const colon = member.lastIndexOf(':');
        const attempt = Number(member.slice(colon + 1));
        return colon > 0 && Number.isSafeInteger(attempt) ? [{ jobId: member.slice(0, colon), attempt }] : [];
      });
    },

    async rescheduleDeadline(entry, at) {
      await redis.zadd(deadlinesKey, 'XX', at.getTime(), deadlineMember(entry));
    },

    async dropDeadline(entry) {
      await redis.zrem(deadlinesKey, deadlineMember(entry));
    },

    async enforceDeadline(entry, move) {
      const tenant = await redis.hget(jobKey(entry.jobId), 'tenant');
      if (tenant === null) {
        await redis.zrem(deadlinesKey, deadlineMember(entry));
        return undefined;
      }
      const moment = now();
      const reply = await lua.run(
        'job-deadline',
        [
          jobKey(entry.jobId),
          countsKey,
          finishedKey,
          runningKey,
          activeKey(tenant),
          deadlinesKey,
          holdKeys.folders,
          holdKeys.ordered,
        ],
        [
          entry.jobId,
          entry.attempt,
          move.to,
          move.from.join(','),
          moment.toISOString(),
          JSON.stringify(move.error),
          statusChannel,
        ],
      );
      return reply[0] === 'moved' ? mustGet(entry.jobId) : undefined;
    },

    async countActive(tenant) {
      return redis.scard(activeKey(tenant));
    },

    async delete(id) {
      const [tenant, key, createdAt] = await redis.hmget(jobKey(id), 'tenant', 'idempotencyKey', 'createdAt');
      if (tenant == null || createdAt == null) {
        await redis.del(
          jobKey(id),
          chunksKey(id),
          commitsKey(id),
          attemptsKey(id),
          segmentsKey(id),
          chunkStatsKey(id),
          attemptCountsKey(id),
        );
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
        countsKey,
        runningKey,
        chunkStatsKey(id),
        attemptCountsKey(id),
        holdKeys.folders,
        holdKeys.ordered,
      ];
      await lua.run('job-delete', keys, [id, indexMember(createdAt, id)]);
    },
  };
}

/** The job hash's usage counters a delta moves, as `job-add-usage` arguments. */
function usageFields(delta: UsageDelta): (string | number)[] {
  const fields: Record<keyof UsageDelta, string> = {
    cpuSeconds: 'usageCpuSeconds',
    deviceSeconds: 'usageDeviceSeconds',
    bytesRead: 'usageBytesRead',
    bytesWritten: 'usageBytesWritten',
    supersededAttempts: 'usageSuperseded',
  };
  return (Object.keys(fields) as (keyof UsageDelta)[]).flatMap((key) => {
    const value = delta[key];
    if (value === undefined || value === 0) return [];
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`usage ${key} must be a non-negative number, got ${value}`);
    return [fields[key], value];
  });
}
