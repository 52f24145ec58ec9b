import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { enforceDeadlines } from '../../../jobs/deadlines/enforce-deadlines.js';
import { JobNotRetryable } from '../../../jobs/errors/job-not-retryable.js';
import { OutputInUse } from '../../../jobs/ports/errors/output-in-use.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { parseJobSpec, type JobSpec } from '../../../schemas/job-spec.js';
import { makeRedisJobStore, outputHoldKeys } from '../../../services/queue/job-store.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { recordingQueue } from '../../helpers/recording-queue.js';

const spec = (extra: Record<string, unknown> = {}): JobSpec =>
  parseJobSpec({
    input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
    model: { uri: 's3://models/fraud/v3.onnx', inputs: { features: { columns: ['f0', 'f1'] } } },
    output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
    ...extra,
  });

let redis: Redis;
let prefix: string;
let clock: { ms: number };
let store: JobStore;
const T0 = Date.parse('2026-11-28T01:00:00.000Z');
const iso = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

beforeAll(async () => {
  redis = makeRedis(redisConfigFromEnv().url);
  await redis.ping();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = `{test-${randomBytes(6).toString('hex')}}`;
  clock = { ms: T0 };
  store = makeRedisJobStore(redis, prefix, { now: () => new Date(clock.ms) });
});
afterEach(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
});

const sweep = () =>
  enforceDeadlines({
    store,
    queue: recordingQueue(),
    now: () => new Date(clock.ms),
    log: makeRecordingLog(),
  });

describe('RedisJobStore retry and deadlines (job-retry.lua, job-deadline.lua)', () => {
  it('keeps every attempt’s end in order, counts attempts, and keeps the counts by status right', async () => {
    await store.counts({ stalledSince: new Date(0) }); // makes the counts hash, which moves from now on
    const { record } = await store.create(spec(), { tenant: 'acme' });
    await store.transition(record.id, 'planning');
    await store.setPlan(record.id, { chunksTotal: 3, modelSha256: 'b'.repeat(64), inputRows: 30 });
    await store.transition(record.id, 'running');
    await store.beginAttempt(record.id, 0, 'attemptaaaaa');
    await store.commitChunk(record.id, 0, { rows: 10, rejected: 1, attempt: 'attemptaaaaa' });
    clock.ms += 1_000;
    const error = { code: 'STORAGE_ACCESS_DENIED', message: 'Access denied: "quoted" \\ ü', chunk: 1 };
    await store.transition(record.id, 'failed', { error });
    clock.ms += 1_000;
    const first = await store.retry(record.id);
    expect(first).toMatchObject({
      status: 'queued',
      attempts: 2,
      queuedAt: iso(2),
      modelSha256: 'b'.repeat(64),
    });
    expect(first.progress).toMatchObject({ chunksTotal: 0, chunksDone: 0, rowsScored: 0, rowsRejected: 0 });
    expect(first.error).toBeUndefined();
    expect(first.startedAt).toBeUndefined();
    expect(await store.committedChunks(record.id)).toEqual([]);
    expect(await store.attemptState(record.id, 0, 'attemptaaaaa')).toBe('queued');

    await store.transition(record.id, 'cancelling');
    clock.ms += 1_000;
    await store.transition(record.id, 'cancelled');
    const second = await store.retry(record.id);
    expect(second.attempts).toBe(3);
    expect(second.previousAttempts).toEqual([
      { attempt: 1, status: 'failed', startedAt: iso(0), finishedAt: iso(1), error },
      { attempt: 2, status: 'cancelled', finishedAt: iso(3) },
    ]);
    const counts = await store.counts({ stalledSince: new Date(0) });
    expect(counts.byStatus).toMatchObject({ queued: 1, failed: 0, cancelled: 0 });
    expect(await store.countActive('acme')).toBe(1);
  });

  it('lets exactly one of ten concurrent retries through; the others name the state they found', async () => {
    const { record } = await store.create(spec());
    await store.transition(record.id, 'failed', { error: { code: 'X', message: 'x' } });
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => store.retry(record.id)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      expect(o.reason).toBeInstanceOf(JobNotRetryable);
      expect((o.reason as JobNotRetryable).status).toBe('queued');
    }
    expect((await store.get(record.id))?.attempts).toBe(2);
  });

  it('refuses at the tenant’s active-job limit, moving nothing', async () => {
    const { record } = await store.create(spec(), { tenant: 'acme' });
    await store.create(spec(), { tenant: 'acme' });
    await store.transition(record.id, 'failed');
    await expect(store.retry(record.id, { maxActiveJobs: 1 })).rejects.toBeInstanceOf(TooManyActiveJobs);
    expect((await store.get(record.id))?.status).toBe('failed');
  });

  it('expires a queued job once; a job that started first, or a retried attempt’s old entry, is left alone', async () => {
    const { record: late } = await store.create(spec({ expiresAfterSeconds: 5 }), { tenant: 'acme' });
    const { record: started } = await store.create(spec({ expiresAfterSeconds: 5 }), { tenant: 'acme' });
    await store.transition(started.id, 'planning');
    clock.ms = T0 + 5_000;
    expect(await Promise.all([sweep(), sweep(), sweep()])).toEqual(expect.arrayContaining([1]));
    expect(await store.get(late.id)).toMatchObject({ status: 'expired', error: { code: 'JOB_EXPIRED' } });
    expect((await store.get(started.id))?.status).toBe('planning');
    const counts = await store.counts({ stalledSince: new Date(0) });
    expect(counts.finished.expired).toBe(1);
    expect(await redis.zcard(`${prefix}:deadlines`)).toBe(0);

    // An entry of attempt 1 left behind never touches attempt 2 (which has its own deadline).
    const { record: timed } = await store.create(spec({ timeoutSeconds: 10 }));
    await store.transition(timed.id, 'failed');
    clock.ms += 1_000;
    await store.retry(timed.id);
    expect(
      await store.enforceDeadline(
        { jobId: timed.id, attempt: 1 },
        { to: 'expired', from: ['queued'], error: { code: 'JOB_EXPIRED', message: 'x' } },
      ),
    ).toBeUndefined();
    expect((await store.get(timed.id))?.status).toBe('queued');
    expect(await redis.zrange(`${prefix}:deadlines`, '0', '-1')).toContain(`${timed.id}:2`);
  });

  it('takes the output folder’s hold again (OUTPUT_IN_USE while another active job has it); a deadline releases it', async () => {
    const exact = spec({ output: { uri: 's3://scores/fraud/dt=2026-11-28/', layout: 'exact' } });
    const { record } = await store.create(exact);
    await store.transition(record.id, 'failed');
    // The folder was released when the job failed: another job took it meanwhile.
    const { record: other } = await store.create(exact);
    const refused = await store.retry(record.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OutputInUse);
    expect((refused as OutputInUse).holder).toBe(other.id);
    expect((await store.get(record.id))?.status).toBe('failed');

    await store.transition(other.id, 'cancelling');
    await store.transition(other.id, 'cancelled');
    await store.retry(record.id);
    await expect(store.create(exact)).rejects.toBeInstanceOf(OutputInUse);

    // Timed out: the job's hold goes with the move, in the same script.
    await store.transition(record.id, 'cancelling');
    await store.transition(record.id, 'cancelled');
    const { record: timed } = await store.create({ ...exact, timeoutSeconds: 1 });
    await store.transition(timed.id, 'planning');
    const { folders } = outputHoldKeys(prefix);
    expect(Object.values(await redis.hgetall(folders))).toEqual([timed.id]);
    clock.ms += 1_000;
    expect(await sweep()).toBe(1);
    expect(await store.get(timed.id)).toMatchObject({ status: 'failed', error: { code: 'JOB_TIMEOUT' } });
    expect(await redis.hgetall(folders)).toEqual({});
  });
});
