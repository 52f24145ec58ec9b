import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidJobTransition } from '../../../jobs/errors/invalid-job-transition.js';
import { jobRecordSchema } from '../../../schemas/job-record.js';
import { parseJobSpec, specDigest, type JobSpec } from '../../../schemas/job-spec.js';
import { IdempotencyConflict } from '../../../jobs/ports/errors/idempotency-conflict.js';
import { InvalidListCursor } from '../../../jobs/ports/errors/invalid-list-cursor.js';
import { JobAlreadyExists } from '../../../jobs/ports/errors/job-already-exists.js';
import { JobNotFound } from '../../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';
import { jobStatusChannel, makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';

const spec: JobSpec = parseJobSpec({
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx', inputs: { features: { columns: ['f0', 'f1'] } } },
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
  labels: { team: 'risk' },
});
const otherSpec: JobSpec = { ...spec, priority: 1 };

let redis: Redis;
let prefix: string;
let clock: { ms: number };
let store: JobStore;

/** Every key under the test's prefix. */
async function keysOf(p: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

beforeAll(async () => {
  redis = makeRedis(redisConfigFromEnv().url);
  await redis.ping();
});

afterAll(async () => {
  await redis.quit();
});

beforeEach(() => {
  prefix = `{test-${randomBytes(6).toString('hex')}}`;
  clock = { ms: Date.parse('2026-11-28T01:00:00.000Z') };
  store = makeRedisJobStore(redis, prefix, { now: () => new Date(clock.ms) });
});

afterEach(async () => {
  const keys = await keysOf(prefix);
  if (keys.length > 0) await redis.del(...keys);
});

describe('RedisJobStore', () => {
  it('creates a queued record and reads it back', async () => {
    const { record, created } = await store.create(spec, { tenant: 'acme' });
    expect(created).toBe(true);
    expect(record.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(record).toEqual({
      id: record.id,
      tenant: 'acme',
      status: 'queued',
      spec,
      specDigest: specDigest(spec),
      createdAt: '2026-11-28T01:00:00.000Z',
      updatedAt: '2026-11-28T01:00:00.000Z',
      progress: {
        chunksTotal: 0,
        chunksDone: 0,
        rowsScored: 0,
        rowsRejected: 0,
        rowsPerSecond: 0,
        etaSeconds: null,
      },
      output: { uri: `s3://scores/fraud/${record.id}/` },
    });
    expect(jobRecordSchema.parse(record)).toEqual(record);
    expect(await store.get(record.id)).toEqual(record);
    expect(await store.get('no-such-job')).toBeUndefined();
    // Keys stay under the prefix (the record, the tenant's active set, its and the global listing index,
    // the hold on its output folder), and the record holds no more than descriptors.
    expect((await keysOf(prefix)).sort()).toEqual(
      [
        `${prefix}:job:${record.id}`,
        `${prefix}:jobs`,
        `${prefix}:tenant:acme:active`,
        `${prefix}:tenant:acme:jobs`,
        `${prefix}:output-folders`,
        `${prefix}:output-folders-ordered`,
      ].sort(),
    );
    expect(await redis.memory('USAGE', `${prefix}:job:${record.id}`)).toBeLessThan(4096);
  });

  it('takes a given id and refuses to reuse it', async () => {
    const { record } = await store.create(spec, { id: 'job-42' });
    expect(record.id).toBe('job-42');
    expect(record.tenant).toBe('default');
    await expect(store.create(spec, { id: 'job-42' })).rejects.toBeInstanceOf(JobAlreadyExists);
  });

  it('returns the existing job for a repeated idempotency key with the same spec', async () => {
    const first = await store.create(spec, { tenant: 'acme', idempotencyKey: 'nightly-2026-11-27' });
    clock.ms += 5_000;
    const again = await store.create(structuredClone(spec), {
      tenant: 'acme',
      idempotencyKey: 'nightly-2026-11-27',
    });
    expect(again).toEqual({ record: first.record, created: false });
    expect(first.record.idempotencyKey).toBe('nightly-2026-11-27');
    // Keys are per tenant.
    const otherTenant = await store.create(spec, { tenant: 'globex', idempotencyKey: 'nightly-2026-11-27' });
    expect(otherTenant.created).toBe(true);
    expect(otherTenant.record.id).not.toBe(first.record.id);
  });

  it('refuses a repeated idempotency key with a different spec, naming the key and the job', async () => {
    const first = await store.create(spec, { idempotencyKey: 'k1' });
    const attempt = store.create(otherSpec, { idempotencyKey: 'k1' });
    await expect(attempt).rejects.toBeInstanceOf(IdempotencyConflict);
    await expect(attempt).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
      idempotencyKey: 'k1',
      existingJobId: first.record.id,
    });
    await expect(attempt).rejects.toThrow(first.record.id);
  });

  it('creates one job for 50 concurrent creates with one key', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => store.create(spec, { idempotencyKey: 'burst' })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.record.id)).size).toBe(1);
    const jobKeys = (await keysOf(`${prefix}:job:`)).filter((k) => !k.endsWith(':chunks'));
    expect(jobKeys).toHaveLength(1);
  });

  it('lets a key be used again once its job is deleted', async () => {
    const first = await store.create(spec, { idempotencyKey: 'k' });
    await store.delete(first.record.id);
    expect(await store.get(first.record.id)).toBeUndefined();
    expect(await keysOf(prefix)).toEqual([]);
    const second = await store.create(otherSpec, { idempotencyKey: 'k' });
    expect(second.created).toBe(true);
  });

  it('recovers from a key whose job is gone', async () => {
    const first = await store.create(spec, { idempotencyKey: 'k' });
    await redis.del(`${prefix}:job:${first.record.id}`);
    const second = await store.create(spec, { idempotencyKey: 'k' });
    expect(second.created).toBe(true);
    expect(second.record.id).not.toBe(first.record.id);
  });

  it('moves through the lifecycle with timestamps, repeats idempotently and refuses illegal moves', async () => {
    const { record } = await store.create(spec);
    clock.ms += 1_000;
    const planning = await store.transition(record.id, 'planning');
    expect(planning.status).toBe('planning');
    expect(planning.startedAt).toBe('2026-11-28T01:00:01.000Z');
    expect(planning.updatedAt).toBe('2026-11-28T01:00:01.000Z');

    clock.ms += 1_000;
    // A retried processor repeats its transition: unchanged record, no error.
    expect(await store.transition(record.id, 'planning')).toEqual(planning);

    await expect(store.transition(record.id, 'succeeded')).rejects.toBeInstanceOf(InvalidJobTransition);
    await expect(store.transition(record.id, 'succeeded')).rejects.toThrow(/planning.*succeeded/);
    expect((await store.get(record.id))?.status).toBe('planning');

    await store.transition(record.id, 'running', { modelSha256: 'a'.repeat(64) });
    await store.transition(record.id, 'finalizing');
    clock.ms += 1_000;
    const done = await store.transition(record.id, 'succeeded', {
      manifestUri: 's3://scores/fraud/x/_manifest.json',
    });
    expect(done).toMatchObject({
      status: 'succeeded',
      startedAt: '2026-11-28T01:00:01.000Z',
      finishedAt: '2026-11-28T01:00:03.000Z',
      modelSha256: 'a'.repeat(64),
      output: { manifestUri: 's3://scores/fraud/x/_manifest.json' },
    });
    await expect(store.transition(record.id, 'cancelling')).rejects.toMatchObject({
      code: 'JOB_INVALID_TRANSITION',
      from: 'succeeded',
      to: 'cancelling',
    });
  });

  it('records the failure and where it happened', async () => {
    const { record } = await store.create(spec);
    const error = {
      code: 'BAD_DATA',
      message: 'f0 is a string',
      uri: 's3://events/a.parquet',
      row: 17,
      chunk: 3,
    };
    const failed = await store.transition(record.id, 'failed', { error });
    expect(failed.error).toEqual(error);
    expect(failed.finishedAt).toBeDefined();
    expect(failed.startedAt).toBeUndefined();
  });

  it('cancels through cancelling', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'cancelling');
    expect((await store.transition(record.id, 'cancelled')).status).toBe('cancelled');
  });

  it('serializes racing transitions: exactly one of two conflicting moves wins', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    await store.transition(record.id, 'running');
    await store.transition(record.id, 'finalizing');
    const outcomes = await Promise.allSettled([
      store.transition(record.id, 'succeeded'),
      store.transition(record.id, 'failed'),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('reports a missing job as JobNotFound', async () => {
    await expect(store.transition('nope', 'planning')).rejects.toBeInstanceOf(JobNotFound);
    await expect(store.setChunksTotal('nope', 3)).rejects.toBeInstanceOf(JobNotFound);
    await expect(
      store.commitChunk('nope', 0, { rows: 1, rejected: 0, attempt: 'a00001' }),
    ).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
    });
    expect(await keysOf(prefix)).toEqual([]);
  });

  /** A job in `running` with `chunks` chunks, as planning leaves it. */
  async function runningJob(chunks: number): Promise<string> {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    await store.setChunksTotal(record.id, chunks);
    await store.transition(record.id, 'running');
    return record.id;
  }

  let attempts = 0;
  /** Commits chunk `index` as a fresh attempt would: fencing token first, then the commit. */
  async function commit(id: string, index: number, rows: number, rejected = 0) {
    const attempt = `t${String(++attempts).padStart(6, '0')}`;
    await store.beginAttempt(id, index, attempt);
    return store.commitChunk(id, index, { rows, rejected, attempt });
  }

  it('counts a chunk committed 20 times concurrently exactly once', async () => {
    const id = await runningJob(4);
    await store.beginAttempt(id, 2, 'same01');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.commitChunk(id, 2, { rows: 1000, rejected: 3, attempt: 'same01' }),
      ),
    );
    expect(results.filter((r) => r.first)).toHaveLength(1);
    for (const r of results) expect(r).toMatchObject({ chunksDone: 1, chunksTotal: 4 });
    const after = await store.get(id);
    expect(after?.progress).toMatchObject({ chunksDone: 1, rowsScored: 1000, rowsRejected: 3 });
  });

  it('tracks chunks total, done and rows', async () => {
    const id = await runningJob(3);
    const record = { id };
    expect(await commit(id, 1, 10)).toEqual({
      outcome: 'accepted',
      first: true,
      chunksDone: 1,
      chunksTotal: 3,
      overLimit: false,
    });
    expect(await commit(id, 0, 20, 2)).toEqual({
      outcome: 'accepted',
      first: true,
      chunksDone: 2,
      chunksTotal: 3,
      overLimit: false,
    });
    // A re-delivered chunk (even with other counts) changes nothing.
    expect(await commit(id, 1, 99, 99)).toEqual({
      outcome: 'duplicate',
      first: false,
      chunksDone: 2,
      chunksTotal: 3,
      overLimit: false,
    });
    expect(await store.isCommitted(record.id, 0)).toBe(true);
    expect(await store.isCommitted(record.id, 2)).toBe(false);
    expect(await store.committedChunks(record.id)).toEqual([0, 1]);
    expect((await store.get(record.id))?.progress).toMatchObject({
      chunksTotal: 3,
      chunksDone: 2,
      rowsScored: 30,
      rowsRejected: 2,
    });
    await expect(
      store.commitChunk(id, -1, { rows: 1, rejected: 0, attempt: 'x00001' }),
    ).rejects.toBeInstanceOf(RangeError);
    await expect(
      store.commitChunk(id, 2, { rows: 1.5, rejected: 0, attempt: 'x00001' }),
    ).rejects.toBeInstanceOf(RangeError);
  });

  it('accepts commits only from the current attempt of a running job (fencing)', async () => {
    const id = await runningJob(2);
    expect(await store.beginAttempt(id, 0, 'first1')).toEqual({ state: 'started', segments: [] });
    expect(await store.acceptSegment(id, 0, 'first1', '000000000000-first1')).toBe('current');
    // A second attempt takes the chunk over; it resumes after the first one's accepted segment.
    expect(await store.beginAttempt(id, 0, 'second')).toEqual({
      state: 'started',
      segments: ['000000000000-first1'],
    });
    expect(await store.attemptState(id, 0, 'first1')).toBe('superseded');
    expect(await store.acceptSegment(id, 0, 'first1', '000000001024-first1')).toBe('superseded');
    expect(await store.commitChunk(id, 0, { rows: 5, rejected: 0, attempt: 'first1' })).toMatchObject({
      outcome: 'stale',
      first: false,
      chunksDone: 0,
    });
    expect(await store.acceptSegment(id, 0, 'second', '000000001024-second')).toBe('current');
    expect(await store.commitChunk(id, 0, { rows: 7, rejected: 0, attempt: 'second' })).toMatchObject({
      outcome: 'accepted',
      chunksDone: 1,
    });
    expect(await store.acceptedCommits(id)).toEqual(new Map([[0, 'second']]));
    expect(await store.attemptState(id, 0, 'second')).toBe('committed');
    expect(await store.beginAttempt(id, 0, 'third1')).toEqual({ state: 'committed' });
    // Once the job leaves `running`, nothing more is accepted, and no attempt can start.
    await store.beginAttempt(id, 1, 'late01');
    await store.transition(id, 'cancelling');
    expect(await store.attemptState(id, 1, 'late01')).toBe('cancelling');
    expect(await store.acceptSegment(id, 1, 'late01', '000000000000-late01')).toBe('cancelling');
    expect((await store.commitChunk(id, 1, { rows: 1, rejected: 0, attempt: 'late01' })).outcome).toBe(
      'stale',
    );
    expect(await store.beginAttempt(id, 1, 'late02')).toEqual({ state: 'stopped', status: 'cancelling' });
    expect((await store.get(id))?.progress).toMatchObject({ chunksDone: 1, rowsScored: 7 });
  });

  it('answers a resent commit of the accepted attempt as accepted, not as another attempt (lost replies)', async () => {
    const id = await runningJob(1);
    await store.beginAttempt(id, 0, 'resent');
    expect(await store.acceptSegment(id, 0, 'resent', '000000000000-resent')).toBe('current');
    // Another attempt took over before the resend of the append arrived: the append stands, once.
    await store.beginAttempt(id, 0, 'newer1');
    expect(await store.acceptSegment(id, 0, 'resent', '000000000000-resent')).toBe('current');
    expect(await store.beginAttempt(id, 0, 'newer2')).toEqual({
      state: 'started',
      segments: ['000000000000-resent'],
    });
    const c = { rows: 3, rejected: 0, attempt: 'newer2' };
    expect(await store.commitChunk(id, 0, c)).toMatchObject({
      outcome: 'accepted',
      first: true,
      chunksDone: 1,
    });
    expect(await store.commitChunk(id, 0, c)).toMatchObject({
      outcome: 'accepted',
      first: false,
      chunksDone: 1,
    });
    expect(await store.commitChunk(id, 0, { ...c, attempt: 'newer1' })).toMatchObject({
      outcome: 'duplicate',
    });
    expect((await store.get(id))?.progress.rowsScored).toBe(3);
  });

  it('adopts a chunk found in storage only while the job is planning', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    await store.setPlan(record.id, { chunksTotal: 2, inputRows: 100, modelSha256: 'f'.repeat(64) });
    expect((await store.adoptChunk(record.id, 0, { rows: 50, rejected: 0, attempt: 'old001' })).outcome).toBe(
      'accepted',
    );
    await store.transition(record.id, 'running');
    expect((await store.adoptChunk(record.id, 1, { rows: 50, rejected: 0, attempt: 'old002' })).outcome).toBe(
      'stale',
    );
    const after = await store.get(record.id);
    expect(after?.modelSha256).toBe('f'.repeat(64));
    expect(after?.progress).toMatchObject({ chunksDone: 1, rowsTotal: 100 });
  });

  it('tells the commit that puts refused rows over the limit of the input rows', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    await store.setPlan(record.id, { chunksTotal: 10, inputRows: 1000 });
    await store.transition(record.id, 'running');
    const limited = async (index: number, rejected: number) => {
      await store.beginAttempt(record.id, index, `lim${index}00`);
      return store.commitChunk(record.id, index, {
        rows: 100 - rejected,
        rejected,
        attempt: `lim${index}00`,
        maxInvalidFraction: 0.01,
      });
    };
    expect((await limited(0, 10)).overLimit).toBe(false); // 10 of 1000: at the limit, not over it
    expect((await limited(1, 1)).overLimit).toBe(true);
  });

  it('deletes the attempt, segment and commit bookkeeping with the job', async () => {
    const id = await runningJob(1);
    await store.beginAttempt(id, 0, 'gone01');
    await store.acceptSegment(id, 0, 'gone01', '000000000000-gone01');
    await store.commitChunk(id, 0, { rows: 1, rejected: 0, attempt: 'gone01' });
    await store.delete(id);
    expect((await keysOf(prefix)).filter((k) => k.includes(id))).toEqual([]);
  });

  it('computes the row rate and the ETA from the observed chunk rate', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    // Not planned yet: no ETA.
    clock.ms += 2_000;
    expect((await store.get(record.id))?.progress).toMatchObject({ rowsPerSecond: 0, etaSeconds: null });

    await store.setChunksTotal(record.id, 10);
    await store.transition(record.id, 'running');
    // Planned but nothing done: rate unknown.
    expect((await store.get(record.id))?.progress.etaSeconds).toBeNull();

    await commit(record.id, 0, 500_000);
    await commit(record.id, 1, 500_000);
    clock.ms += 8_000; // 10 s since planning began: 2 chunks in 10 s → 8 left take 40 s.
    expect((await store.get(record.id))?.progress).toMatchObject({
      chunksDone: 2,
      rowsScored: 1_000_000,
      rowsPerSecond: 100_000,
      etaSeconds: 40,
    });

    for (let i = 2; i < 10; i++) await commit(record.id, i, 500_000);
    clock.ms += 10_000;
    expect((await store.get(record.id))?.progress).toMatchObject({ rowsPerSecond: 250_000, etaSeconds: 0 });

    await store.transition(record.id, 'finalizing');
    await store.transition(record.id, 'succeeded');
    clock.ms += 60_000;
    // The rate is frozen at finish.
    expect((await store.get(record.id))?.progress).toMatchObject({ rowsPerSecond: 250_000, etaSeconds: 0 });
  });

  it('has no ETA for a job that will not finish', async () => {
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    await store.setChunksTotal(record.id, 4);
    await store.transition(record.id, 'running');
    await commit(record.id, 0, 1);
    clock.ms += 1_000;
    await store.transition(record.id, 'cancelling');
    expect((await store.get(record.id))?.progress.etaSeconds).toBeNull();
  });

  it('keeps working after Redis forgets its scripts (SCRIPT FLUSH, as after a restart or failover)', async () => {
    // ioredis runs a defined command by digest; the digest is that of the file's text.
    const source = readFileSync(new URL('../../../services/queue/lua/job-transition.lua', import.meta.url));
    const digest = createHash('sha1').update(source).digest('hex');
    const { record } = await store.create(spec);
    await store.transition(record.id, 'planning');
    expect(await redis.script('EXISTS', digest)).toEqual([1]);

    // Others sharing this Redis recover the same way: ioredis and BullMQ both reload on NOSCRIPT.
    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', digest)).toEqual([0]);

    expect((await store.adoptChunk(record.id, 0, { rows: 1, rejected: 0, attempt: 'a00001' })).first).toBe(
      true,
    );
    await store.transition(record.id, 'running');
    expect(await redis.script('EXISTS', digest)).toEqual([1]);
    expect(await store.get(record.id)).toMatchObject({ status: 'running', progress: { chunksDone: 1 } });
  });

  it("lists a tenant's jobs newest first, page by page, with no duplicates or gaps", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      // Several jobs share a millisecond: the id orders them.
      if (i % 3 === 0) clock.ms += 1;
      ids.push(
        (await store.create(spec, { tenant: 'acme', id: `job-${String(i).padStart(2, '0')}` })).record.id,
      );
    }
    await store.create(spec, { tenant: 'globex', id: 'other' });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ tenant: 'acme', limit: 5, ...(cursor ? { cursor } : {}) });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
      // A job created mid-walk is newer than the cursor: it never shows up on later pages.
      if (pages === 2) await store.create(spec, { tenant: 'acme', id: 'late' });
    } while (cursor !== undefined);
    expect(pages).toBe(5);
    expect(seen).toEqual([...ids].reverse());
    // Every tenant's jobs for operators.
    expect((await store.list({ limit: 100 })).jobs.map((j) => j.id)).toContain('other');
    expect((await store.list({ tenant: 'nobody' })).jobs).toEqual([]);
  });

  it('filters a listing by status and labels, cutting short pages when the scan limit is reached', async () => {
    for (let i = 0; i < 12; i++) {
      clock.ms += 1;
      const labels = { team: i % 2 === 0 ? 'risk' : 'growth' };
      const { record } = await store.create({ ...spec, labels }, { tenant: 'acme', id: `j${i}` });
      if (i % 3 === 0) await store.transition(record.id, 'cancelling');
    }
    const cancelling = await store.list({ tenant: 'acme', status: 'cancelling' });
    expect(cancelling.jobs.map((j) => j.id)).toEqual(['j9', 'j6', 'j3', 'j0']);
    expect(cancelling.nextCursor).toBeNull();
    const risky = await store.list({ tenant: 'acme', status: 'cancelling', labels: { team: 'risk' } });
    expect(risky.jobs.map((j) => j.id)).toEqual(['j6', 'j0']);
    // A scan limit of 4 examines j11..j8 (j9 matches), then hands back a cursor to go on from.
    const first = await store.list({ tenant: 'acme', status: 'cancelling', scanLimit: 4 });
    expect(first.jobs.map((j) => j.id)).toEqual(['j9']);
    expect(first.nextCursor).not.toBeNull();
    const second = await store.list({
      tenant: 'acme',
      status: 'cancelling',
      scanLimit: 4,
      cursor: first.nextCursor ?? '',
    });
    expect(second.jobs.map((j) => j.id)).toEqual(['j6']);
  });

  it('refuses a cursor it did not hand out', async () => {
    for (const cursor of ['nope', '', 'AAAA', Buffer.from('12:x').toString('base64url')]) {
      await expect(store.list({ tenant: 'acme', cursor })).rejects.toBeInstanceOf(InvalidListCursor);
    }
  });

  it('counts active jobs per tenant and refuses creates past the limit, even when they race', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => store.create(spec, { tenant: 'acme', maxActiveJobs: 5 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const refused = results.find((r) => r.status === 'rejected');
    expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(TooManyActiveJobs);
    expect(await store.countActive('acme')).toBe(5);
    // Another tenant has its own count.
    expect((await store.create(spec, { tenant: 'globex', maxActiveJobs: 5 })).created).toBe(true);

    // A terminal job frees its slot; a repeated idempotency key still gets its job at the limit.
    const { jobs } = await store.list({ tenant: 'acme' });
    const first = jobs[0];
    if (!first) throw new Error('no job listed');
    await store.transition(first.id, 'cancelling');
    expect(await store.countActive('acme')).toBe(5);
    await store.transition(first.id, 'cancelled');
    expect(await store.countActive('acme')).toBe(4);
    const keyed = await store.create(spec, { tenant: 'acme', idempotencyKey: 'k', maxActiveJobs: 5 });
    expect(keyed.created).toBe(true);
    await expect(store.create(spec, { tenant: 'acme', maxActiveJobs: 5 })).rejects.toMatchObject({
      code: 'TOO_MANY_ACTIVE_JOBS',
      tenant: 'acme',
      limit: 5,
    });
    expect(await store.create(spec, { tenant: 'acme', idempotencyKey: 'k', maxActiveJobs: 5 })).toMatchObject(
      { created: false, record: { id: keyed.record.id } },
    );
    await store.delete(keyed.record.id);
    expect(await store.countActive('acme')).toBe(4);
  });

  it('refuses every create under a limit of 0, and none without a limit', async () => {
    await expect(store.create(spec, { tenant: 'acme', maxActiveJobs: 0 })).rejects.toBeInstanceOf(
      TooManyActiveJobs,
    );
    expect(await store.countActive('acme')).toBe(0);
    for (let i = 0; i < 3; i++) expect((await store.create(spec, { tenant: 'acme' })).created).toBe(true);
    expect(await store.countActive('acme')).toBe(3);
  });

  it('publishes every status change on the status channel', async () => {
    const subscriber = redis.duplicate();
    try {
      const heard: string[] = [];
      subscriber.on('message', (_channel: string, id: string) => heard.push(id));
      await subscriber.subscribe(jobStatusChannel(prefix));
      const { record } = await store.create(spec);
      await store.transition(record.id, 'planning');
      await store.transition(record.id, 'planning'); // unchanged: nothing published
      await store.transition(record.id, 'failed');
      await expect.poll(() => heard).toEqual([record.id, record.id]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('removes a deleted job from its indexes and active set', async () => {
    const { record } = await store.create(spec, { tenant: 'acme' });
    await store.delete(record.id);
    expect((await store.list({ tenant: 'acme' })).jobs).toEqual([]);
    expect(await store.countActive('acme')).toBe(0);
    expect(await keysOf(prefix)).toEqual([]);
  });
});
