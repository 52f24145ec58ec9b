import { describe, expect, it } from 'vitest';
import { type TickDeps, processTick } from '../../../jobs/schedule/process-tick.js';
import { scheduleIdempotencyKey } from '../../../jobs/schedule/run-schedule.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import { idempotentJobId } from '../../../jobs/submit-job.js';
import { FAKE_MODEL_URI, FAKE_OUTPUT_URI } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { makeMemoryScheduleStore } from '../../helpers/memory-ports/memory-schedule-store.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { recordingQueue } from '../../helpers/recording-queue.js';

const DUE = new Date('2026-03-01T02:00:00.000Z');
const TENANT = 'acme';

async function scheduled(enabled = true) {
  const store = makeMemoryJobStore();
  const schedules = makeMemoryScheduleStore();
  const queue = recordingQueue();
  const removed: string[] = [];
  await schedules.put(
    TENANT,
    parseSchedule({
      name: 'nightly',
      cron: '0 2 * * *',
      enabled,
      job: {
        name: 'nightly {date}',
        input: { uri: 'file:///data/in/dt={date}/', format: 'parquet' },
        model: { uri: FAKE_MODEL_URI },
        output: { uri: `${FAKE_OUTPUT_URI}/{yyyy}/{mm}` },
        priority: 3,
      },
    }),
  );
  const deps: TickDeps = {
    store,
    queue,
    schedules,
    removeScheduler(tenant, name) {
      removed.push(`${tenant}/${name}`);
      return Promise.resolve();
    },
    log: makeRecordingLog(),
  };
  return { deps, store, schedules, queue, removed };
}

describe('processTick', () => {
  it('submits one job with the template rendered for the day and records the run', async () => {
    const { deps, store, schedules, queue } = await scheduled();
    const outcome = await processTick(deps, { tenant: TENANT, name: 'nightly' }, DUE);

    expect(outcome).toMatchObject({ outcome: 'submitted', created: true, date: '2026-03-01' });
    if (outcome.outcome === 'skipped') throw new Error('skipped');
    const record = await store.get(outcome.record.id);
    expect(record?.tenant).toBe(TENANT);
    expect(record?.spec.name).toBe('nightly 2026-03-01');
    expect(record?.spec.input.uri).toBe('file:///data/in/dt=2026-03-01/');
    expect(record?.spec.output.uri).toBe(`${FAKE_OUTPUT_URI}/2026/03`);
    expect(record?.idempotencyKey).toBe(scheduleIdempotencyKey('nightly', '2026-03-01'));
    expect(record?.id).toBe(idempotentJobId(TENANT, scheduleIdempotencyKey('nightly', '2026-03-01')));
    expect(queue.plans).toEqual([{ jobId: record?.id, priority: 3 }]);
    expect((await schedules.get(TENANT, 'nightly'))?.lastRun).toEqual({
      at: DUE.toISOString(),
      date: '2026-03-01',
      jobId: record?.id,
    });
  });

  it('a second tick of the same day finds the day’s job and submits nothing', async () => {
    const { deps, store, queue } = await scheduled();
    const first = await processTick(deps, { tenant: TENANT, name: 'nightly' }, DUE);
    const jobId = first.outcome === 'skipped' ? undefined : first.record.id;
    // Once planning has begun, the day's job is not queued for planning again.
    await store.transition(jobId!, 'planning');
    const again = await processTick(
      deps,
      { tenant: TENANT, name: 'nightly' },
      new Date(DUE.getTime() + 60_000),
    );

    expect(again).toMatchObject({ outcome: 'existing', created: false, record: { id: jobId } });
    expect(queue.plans).toEqual([{ jobId, priority: 3 }]);
    expect((await store.list({ tenant: TENANT })).jobs.map((j) => j.id)).toEqual([jobId]);
  });

  it('the next day submits a new job', async () => {
    const { deps, store } = await scheduled();
    await processTick(deps, { tenant: TENANT, name: 'nightly' }, DUE);
    await processTick(deps, { tenant: TENANT, name: 'nightly' }, new Date(DUE.getTime() + 86_400_000));
    expect((await store.list({ tenant: TENANT })).jobs.map((j) => j.spec.input.uri)).toEqual([
      'file:///data/in/dt=2026-03-02/',
      'file:///data/in/dt=2026-03-01/',
    ]);
  });

  it('a tick of a disabled or deleted schedule removes its scheduler and submits nothing', async () => {
    const { deps, store, schedules, removed } = await scheduled(false);
    expect(await processTick(deps, { tenant: TENANT, name: 'nightly' }, DUE)).toEqual({
      outcome: 'skipped',
      reason: 'schedule disabled',
    });
    await schedules.delete(TENANT, 'nightly');
    expect(await processTick(deps, { tenant: TENANT, name: 'nightly' }, DUE)).toEqual({
      outcome: 'skipped',
      reason: 'schedule deleted',
    });
    expect(removed).toEqual([`${TENANT}/nightly`, `${TENANT}/nightly`]);
    expect((await store.list()).jobs).toEqual([]);
  });
});
