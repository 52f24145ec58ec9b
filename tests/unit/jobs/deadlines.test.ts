import { describe, expect, it } from 'vitest';
import { enforceDeadlines } from '../../../jobs/deadlines/enforce-deadlines.js';
import { deadlineVerdict, firstDeadlineCheckMs } from '../../../jobs/deadlines/job-deadlines.js';
import { JobNotRetryable } from '../../../jobs/errors/job-not-retryable.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';
import { type TickDeps, processTick } from '../../../jobs/schedule/process-tick.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { parseJobSpec, specDigest } from '../../../schemas/job-spec.js';
import { fakeJobSpec, FAKE_MODEL_URI, FAKE_OUTPUT_URI } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { makeMemoryScheduleRuns } from '../../helpers/memory-ports/memory-schedule-runs.js';
import { makeMemoryScheduleStore } from '../../helpers/memory-ports/memory-schedule-store.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { recordingQueue } from '../../helpers/recording-queue.js';

const T0 = Date.parse('2026-03-01T02:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function clocked() {
  let now = at(0);
  const store = makeMemoryJobStore({ now: () => now });
  const queue = recordingQueue();
  const log = makeRecordingLog();
  const terminal: JobRecord[] = [];
  const sweep = () =>
    enforceDeadlines({
      store,
      queue,
      now: () => now,
      log,
      onTerminal: (record) => Promise.resolve(void terminal.push(record)),
    });
  return { store, queue, terminal, sweep, setNow: (seconds: number) => void (now = at(seconds)) };
}

describe('job deadlines', () => {
  it('leave specs without them as they were (no zod default: the spec digest does not move)', () => {
    const spec = parseJobSpec({
      input: { uri: 'file:///data/in/', format: 'csv' },
      model: { uri: FAKE_MODEL_URI, inputs: { x: { columns: ['a'] } }, outputs: { y: { column: 's' } } },
      output: { uri: FAKE_OUTPUT_URI, format: 'jsonl' },
    });
    expect('timeoutSeconds' in spec).toBe(false);
    expect('expiresAfterSeconds' in spec).toBe(false);
    expect(specDigest({ ...spec, timeoutSeconds: 60 })).not.toBe(specDigest(spec));
    expect(firstDeadlineCheckMs(spec, T0)).toBeUndefined();
    expect(firstDeadlineCheckMs({ timeoutSeconds: 60, expiresAfterSeconds: 30 }, T0)).toBe(T0 + 30_000);
  });

  it('expire a job still queued at its expiresAfterSeconds, once, with JOB_EXPIRED and its terminal hook', async () => {
    const { store, terminal, sweep, setNow } = clocked();
    const { record } = await store.create(fakeJobSpec({ expiresAfterSeconds: 10 }), { tenant: 'acme' });
    setNow(9.9);
    expect(await sweep()).toBe(0);
    expect((await store.get(record.id))?.status).toBe('queued');
    setNow(10);
    expect(await sweep()).toBe(1);
    const expired = await store.get(record.id);
    expect(expired).toMatchObject({ status: 'expired', error: { code: 'JOB_EXPIRED' } });
    expect(expired?.finishedAt).toBe(at(10).toISOString());
    expect(await store.countActive('acme')).toBe(0);
    expect(terminal.map((r) => r.status)).toEqual(['expired']);
    setNow(20);
    expect(await sweep()).toBe(0);
    expect(terminal).toHaveLength(1);
  });

  it('leave a job alone that started in time, and time it out from its start', async () => {
    const { store, queue, sweep, setNow } = clocked();
    const { record } = await store.create(fakeJobSpec({ expiresAfterSeconds: 10, timeoutSeconds: 30 }));
    setNow(5);
    await store.transition(record.id, 'planning');
    await store.transition(record.id, 'running');
    setNow(10);
    expect(await sweep()).toBe(0);
    setNow(34.9);
    expect(await sweep()).toBe(0);
    expect((await store.get(record.id))?.status).toBe('running');
    setNow(35);
    expect(await sweep()).toBe(1);
    expect(await store.get(record.id)).toMatchObject({ status: 'failed', error: { code: 'JOB_TIMEOUT' } });
    expect(queue.removed).toEqual([record.id]);
  });

  it('do not time out a finalizing job (every chunk is done)', () => {
    const base = { id: 'j', createdAt: at(0).toISOString(), startedAt: at(0).toISOString() };
    const record = { ...base, status: 'finalizing', spec: { timeoutSeconds: 1 } } as unknown as JobRecord;
    expect(deadlineVerdict(record, T0 + 60_000)).toEqual({ kind: 'drop' });
  });

  it('give a retried job a fresh deadline from its new start; the old attempt’s entry does nothing', async () => {
    const { store, sweep, setNow } = clocked();
    const { record } = await store.create(fakeJobSpec({ timeoutSeconds: 10 }));
    await store.transition(record.id, 'planning');
    setNow(10);
    expect(await sweep()).toBe(1);
    setNow(11);
    const retried = await store.retry(record.id);
    expect(retried).toMatchObject({ status: 'queued', attempts: 2, queuedAt: at(11).toISOString() });
    expect(retried.previousAttempts).toEqual([
      {
        attempt: 1,
        status: 'failed',
        startedAt: at(0).toISOString(),
        finishedAt: at(10).toISOString(),
        error: expect.objectContaining({ code: 'JOB_TIMEOUT' }) as unknown,
      },
    ]);
    setNow(15);
    await store.transition(record.id, 'planning');
    setNow(24.9);
    expect(await sweep()).toBe(0);
    setNow(25);
    expect(await sweep()).toBe(1);
    const failed = await store.get(record.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 2, startedAt: at(15).toISOString() });
  });
});

describe('JobStore.retry', () => {
  it('refuses a job in any other state than failed or cancelled, naming it', async () => {
    const store = makeMemoryJobStore();
    const { record } = await store.create(fakeJobSpec());
    for (const to of ['planning', 'running', 'finalizing', 'succeeded'] as const) {
      await store.transition(record.id, to);
      const refused = await store.retry(record.id).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(JobNotRetryable);
      expect((refused as JobNotRetryable).message).toContain(to);
    }
  });

  it('counts the tenant’s active jobs and resets the chunk bookkeeping for adoption', async () => {
    const store = makeMemoryJobStore();
    const { record } = await store.create(fakeJobSpec(), { tenant: 'acme' });
    await store.create(fakeJobSpec(), { tenant: 'acme' });
    await store.transition(record.id, 'planning');
    await store.setPlan(record.id, { chunksTotal: 2, modelSha256: 'a'.repeat(64) });
    await store.transition(record.id, 'running');
    await store.beginAttempt(record.id, 0, 'attempt00001');
    await store.commitChunk(record.id, 0, { rows: 10, rejected: 0, attempt: 'attempt00001' });
    await store.transition(record.id, 'cancelling');
    await store.transition(record.id, 'cancelled');
    await expect(store.retry(record.id, { maxActiveJobs: 1 })).rejects.toBeInstanceOf(TooManyActiveJobs);
    const retried = await store.retry(record.id, { maxActiveJobs: 2 });
    expect(retried).toMatchObject({ status: 'queued', attempts: 2, modelSha256: 'a'.repeat(64) });
    expect(retried.progress).toMatchObject({ chunksDone: 0, rowsScored: 0 });
    expect(await store.committedChunks(record.id)).toEqual([]);
    expect(await store.countActive('acme')).toBe(2);
  });
});

describe('schedules with deadlines in their job template', () => {
  it('submit jobs that carry timeoutSeconds and expiresAfterSeconds, and expire like any other', async () => {
    const { store, sweep, setNow } = clocked();
    const schedules = makeMemoryScheduleStore({ now: () => new Date('2026-02-01T00:00:00Z') });
    const runs = makeMemoryScheduleRuns({
      exists: async (tenant, name) => (await schedules.get(tenant, name)) !== undefined,
    });
    await schedules.put(
      'acme',
      parseSchedule({
        name: 'nightly',
        cron: '0 2 * * *',
        job: {
          input: { uri: 'file:///data/in/dt={date-1d}/', format: 'parquet' },
          model: { uri: FAKE_MODEL_URI },
          output: { uri: `${FAKE_OUTPUT_URI}/{yyyy}/{mm}` },
          timeoutSeconds: 3_600,
          expiresAfterSeconds: 600,
        },
      }),
    );
    const deps: TickDeps = {
      store,
      queue: recordingQueue(),
      schedules,
      runs,
      now: () => at(0),
      removeScheduler: () => Promise.resolve(),
      log: makeRecordingLog(),
    };
    const outcome = await processTick(deps, { tenant: 'acme', name: 'nightly' }, at(0));
    if (outcome.outcome === 'skipped') throw new Error('skipped');
    const id = outcome.submitted[0]!.record.id;
    expect((await store.get(id))?.spec).toMatchObject({ timeoutSeconds: 3_600, expiresAfterSeconds: 600 });
    setNow(600);
    expect(await sweep()).toBe(1);
    expect(await store.get(id)).toMatchObject({ status: 'expired', error: { code: 'JOB_EXPIRED' } });
  });
});
