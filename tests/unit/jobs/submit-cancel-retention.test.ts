import { describe, expect, it } from 'vitest';
import { cancelJob } from '../../../jobs/cancel-job.js';
import { IdempotencyConflict } from '../../../jobs/ports/errors/idempotency-conflict.js';
import { sweepExpiredJobs } from '../../../jobs/retention/sweep-expired-jobs.js';
import { idempotentJobId, submitJob } from '../../../jobs/submit-job.js';
import { FAKE_MODEL_URI } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { recordingQueue } from '../../helpers/recording-queue.js';

const specInput = (uri = 'file:///data/in/') => ({
  input: { uri, format: 'parquet' },
  model: { uri: FAKE_MODEL_URI },
  output: { uri: 'file:///data/out' },
  priority: 2,
});

describe('submitJob', () => {
  it('records the job and queues its planning at the spec priority', async () => {
    const store = makeMemoryJobStore();
    const queue = recordingQueue();
    const { record, created } = await submitJob({ store, queue }, specInput(), { tenant: 't1' });
    expect(created).toBe(true);
    expect(await store.get(record.id)).toMatchObject({ status: 'queued', tenant: 't1' });
    expect(queue.plans).toEqual([{ jobId: record.id, priority: 2 }]);
  });

  it('an idempotency key returns the same job for the same spec and refuses another spec', async () => {
    const store = makeMemoryJobStore();
    const queue = recordingQueue();
    const first = await submitJob({ store, queue }, specInput(), { idempotencyKey: 'k' });
    expect(first.record.id).toBe(idempotentJobId('default', 'k'));
    await store.transition(first.record.id, 'planning');
    const again = await submitJob({ store, queue }, specInput(), { idempotencyKey: 'k' });
    expect(again).toMatchObject({ created: false, record: { id: first.record.id } });
    expect(queue.plans).toHaveLength(1);
    await expect(
      submitJob({ store, queue }, specInput('file:///other/'), { idempotencyKey: 'k' }),
    ).rejects.toBeInstanceOf(IdempotencyConflict);
  });

  it('an invalid spec records nothing', async () => {
    const store = makeMemoryJobStore();
    const queue = recordingQueue();
    await expect(submitJob({ store, queue }, { input: {} })).rejects.toMatchObject({
      code: 'JOB_SPEC_INVALID',
    });
    expect((await store.list()).jobs).toEqual([]);
    expect(queue.plans).toEqual([]);
  });
});

describe('cancelJob', () => {
  it('moves the job to cancelling, removes its queued chunks and queues finalize', async () => {
    const store = makeMemoryJobStore();
    const queue = recordingQueue();
    const { record } = await submitJob({ store, queue }, specInput());
    await store.transition(record.id, 'planning');
    await store.setPlan(record.id, { chunksTotal: 2 });
    await store.transition(record.id, 'running');
    const cancelling = await cancelJob({ store, ...queueOps(queue) }, record.id);
    expect(cancelling?.status).toBe('cancelling');
    expect(queue.removed).toEqual([record.id]);
    expect(queue.finalized).toEqual([record.id]);
  });

  it('cancelling a finished job changes nothing', async () => {
    const store = makeMemoryJobStore();
    const queue = recordingQueue();
    const { record } = await submitJob({ store, queue }, specInput());
    await store.transition(record.id, 'failed');
    expect((await cancelJob({ store, ...queueOps(queue) }, record.id))?.status).toBe('failed');
    expect(queue.finalized).toEqual([]);
  });
});

/** The queue operations `cancelJob` takes, bound to a recording queue. */
function queueOps(queue: ReturnType<typeof recordingQueue>) {
  return {
    removeQueuedChunks: (jobId: string, total: number) => queue.removeQueuedChunks(jobId, total),
    enqueueFinalize: (jobId: string) => queue.enqueueFinalize(jobId),
  };
}

describe('sweepExpiredJobs', () => {
  it('deletes jobs that ended before the cutoff with their deliveries, and keeps the rest', async () => {
    let now = new Date('2026-01-01T00:00:00.000Z');
    const store = makeMemoryJobStore({ now: () => now });
    const queue = recordingQueue();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submitJob({ store, queue }, specInput())).record.id);
    await store.transition(ids[0]!, 'failed');
    await store.transition(ids[1]!, 'cancelling');
    now = new Date('2026-01-10T00:00:00.000Z');
    await store.transition(ids[2]!, 'failed');
    now = new Date('2026-01-12T00:00:00.000Z');

    const forgotten: string[] = [];
    const sweep = await sweepExpiredJobs(
      {
        store,
        forgetDeliveries: (jobId) => {
          forgotten.push(jobId);
          return Promise.resolve();
        },
        now: () => now,
      },
      { retentionMs: 5 * 86_400_000, pageSize: 2 },
    );
    expect(sweep).toEqual({ deleted: 1, examined: 3 });
    expect(forgotten).toEqual([ids[0]]);
    expect(await store.get(ids[0]!)).toBeUndefined();
    expect(await store.get(ids[1]!)).toBeDefined();
    expect(await store.get(ids[2]!)).toBeDefined();
  });
});
