import { describe, expect, it } from 'vitest';
import { type TickDeps, processTick } from '../../../jobs/schedule/process-tick.js';
import { scheduleIdempotencyKey } from '../../../jobs/schedule/run-schedule.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import { tickSchedule } from '../../../jobs/schedule/tick-schedule.js';
import { backfillSchedule, backfillTicks } from '../../../jobs/schedule/backfill.js';
import { idempotentJobId } from '../../../jobs/submit-job.js';
import type { ScheduleInput } from '../../../schemas/schedule.js';
import { FAKE_MODEL_URI, FAKE_OUTPUT_URI } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { makeMemoryScheduleRuns } from '../../helpers/memory-ports/memory-schedule-runs.js';
import { makeMemoryScheduleStore } from '../../helpers/memory-ports/memory-schedule-store.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { recordingQueue } from '../../helpers/recording-queue.js';

const DUE = new Date('2026-03-01T02:00:00.000Z');
const TENANT = 'acme';
const tick = { tenant: TENANT, name: 'nightly' };

async function scheduled(extra: Partial<ScheduleInput> = {}, createdAt = new Date('2026-02-01T00:00:00Z')) {
  let now = DUE;
  const clock = () => now;
  const store = makeMemoryJobStore();
  const schedules = makeMemoryScheduleStore({ now: () => createdAt });
  const runs = makeMemoryScheduleRuns({
    exists: async (tenant, name) => (await schedules.get(tenant, name)) !== undefined,
  });
  const queue = recordingQueue();
  const removed: string[] = [];
  await schedules.put(
    TENANT,
    parseSchedule({
      name: 'nightly',
      cron: '0 2 * * *',
      job: {
        name: 'nightly {date}',
        input: { uri: 'file:///data/in/dt={date-1d}/', format: 'parquet' },
        model: { uri: FAKE_MODEL_URI },
        output: { uri: `${FAKE_OUTPUT_URI}/{yyyy}/{mm}` },
        priority: 3,
      },
      ...extra,
    }),
  );
  const deps: TickDeps = {
    store,
    queue,
    schedules,
    runs,
    now: clock,
    removeScheduler(tenant, name) {
      removed.push(`${tenant}/${name}`);
      return Promise.resolve();
    },
    log: makeRecordingLog(),
  };
  const setNow = (at: Date) => {
    now = at;
  };
  const inputs = async () =>
    (await store.list({ tenant: TENANT, limit: 100 })).jobs.map((j) => j.spec.input.uri).sort();
  return { deps, store, schedules, runs, queue, removed, setNow, inputs };
}

const finish = async (store: ReturnType<typeof makeMemoryJobStore>, id: string) => {
  for (const to of ['cancelling', 'cancelled'] as const) await store.transition(id, to);
};

describe('processTick', () => {
  it('submits one job for the tick, rendered for its logical time ({date-1d}: yesterday), and records the run', async () => {
    const { deps, store, schedules, queue, runs } = await scheduled();
    const outcome = await processTick(deps, tick, DUE);
    if (outcome.outcome === 'skipped') throw new Error('skipped');
    expect(outcome.logicalTime).toBe('2026-03-01T02:00+00:00');
    expect(outcome.submitted).toHaveLength(1);
    const record = await store.get(outcome.submitted[0]!.record.id);
    expect(record?.spec.name).toBe('nightly 2026-03-01');
    expect(record?.spec.input.uri).toBe('file:///data/in/dt=2026-02-28/');
    expect(record?.spec.output.uri).toBe(`${FAKE_OUTPUT_URI}/2026/03`);
    const key = scheduleIdempotencyKey('nightly', '2026-03-01T02:00+00:00');
    expect(record?.idempotencyKey).toBe(key);
    expect(record?.id).toBe(idempotentJobId(TENANT, key));
    expect(queue.plans).toEqual([{ jobId: record?.id, priority: 3 }]);
    expect((await schedules.get(TENANT, 'nightly'))?.lastRun).toEqual({
      at: DUE.toISOString(),
      date: '2026-03-01',
      logicalTime: '2026-03-01T02:00+00:00',
      jobId: record?.id,
    });
    expect(await runs.get(TENANT, 'nightly', '2026-03-01T02:00+00:00')).toMatchObject({
      state: 'submitted',
      source: 'tick',
      jobId: record?.id,
    });
  });

  it('a tick delivered twice makes one job; an hourly schedule gets one job per tick, not per day', async () => {
    const { deps, store, setNow, inputs } = await scheduled({ cron: '0 * * * *', maxActiveRuns: 5 });
    await processTick(deps, tick, DUE);
    await processTick(deps, tick, DUE);
    for (const hour of [3, 4]) {
      const at = new Date(`2026-03-01T0${hour}:00:00Z`);
      setNow(at);
      await processTick(deps, tick, at);
    }
    const keys = (await store.list({ tenant: TENANT })).jobs.map((j) => j.idempotencyKey).sort();
    expect(keys).toEqual([
      'schedule:nightly:2026-03-01T02:00+00:00',
      'schedule:nightly:2026-03-01T03:00+00:00',
      'schedule:nightly:2026-03-01T04:00+00:00',
    ]);
    expect(await inputs()).toHaveLength(3);
  });

  it('maxActiveRuns: a tick beyond it waits, in order, and starts when a run ends; never twice', async () => {
    const { deps, store, runs, setNow } = await scheduled({ cron: '0 * * * *', maxActiveRuns: 1 });
    const at = (h: number) => new Date(`2026-03-01T0${h}:00:00Z`);
    for (const h of [2, 3, 4]) {
      setNow(at(h));
      await processTick(deps, tick, at(h));
    }
    let jobs = (await store.list({ tenant: TENANT })).jobs;
    expect(jobs.map((j) => j.idempotencyKey)).toEqual(['schedule:nightly:2026-03-01T02:00+00:00']);
    expect(await runs.waitingCount(TENANT, 'nightly')).toBe(2);

    await finish(store, jobs[0]!.id);
    const schedule = (await deps.schedules.get(TENANT, 'nightly'))!;
    await tickSchedule(deps, schedule);
    await tickSchedule(deps, schedule); // again: nothing more while the 03:00 run is active
    jobs = (await store.list({ tenant: TENANT })).jobs;
    expect(jobs.map((j) => j.idempotencyKey).sort()).toEqual([
      'schedule:nightly:2026-03-01T02:00+00:00',
      'schedule:nightly:2026-03-01T03:00+00:00',
    ]);
    expect(await runs.waitingCount(TENANT, 'nightly')).toBe(1);
  });

  it('an admitted run whose job was never made (a process died) gets its job on the next pass', async () => {
    const { deps, store, runs } = await scheduled();
    await tickSchedule(
      { ...deps, store: { ...store, create: () => Promise.reject(new Error('crash')) } },
      (await deps.schedules.get(TENANT, 'nightly'))!,
    ).catch(() => undefined);
    expect((await runs.active(TENANT, 'nightly'))[0]?.state).toBe('admitted');
    expect((await store.list()).jobs).toEqual([]);
    await tickSchedule(deps, (await deps.schedules.get(TENANT, 'nightly'))!);
    expect((await store.list()).jobs).toHaveLength(1);
  });

  it('scheduler stopped for 3 days (clock injected): none → 0 jobs, latest → 1, all → 3', async () => {
    const restart = new Date('2026-03-04T10:00:00Z');
    const counts: Record<string, string[]> = {};
    for (const catchUp of ['none', 'latest', 'all'] as const) {
      const { deps, setNow, inputs } = await scheduled(
        { catchUp, maxActiveRuns: 10 },
        new Date('2026-03-01T01:00:00Z'),
      );
      await processTick(deps, tick, DUE);
      setNow(restart);
      await tickSchedule(deps, (await deps.schedules.get(TENANT, 'nightly'))!);
      // BullMQ's stale tick of the 2nd arrives too: it adds nothing the policy did not.
      await processTick(deps, tick, new Date('2026-03-02T02:00:00Z'));
      counts[catchUp] = (await inputs()).filter((uri) => !uri.includes('2026-02-28'));
    }
    expect(counts.none).toEqual([]);
    expect(counts.latest).toEqual(['file:///data/in/dt=2026-03-03/']);
    expect(counts.all).toEqual([
      'file:///data/in/dt=2026-03-01/',
      'file:///data/in/dt=2026-03-02/',
      'file:///data/in/dt=2026-03-03/',
    ]);
  });

  it('the catch-up window bounds what is caught up', async () => {
    const { deps, setNow, inputs } = await scheduled(
      { catchUp: 'all', catchUpWindow: 'P1D', maxActiveRuns: 10 },
      new Date('2026-03-01T01:00:00Z'),
    );
    await processTick(deps, tick, DUE);
    setNow(new Date('2026-03-04T10:00:00Z'));
    await tickSchedule(deps, (await deps.schedules.get(TENANT, 'nightly'))!);
    expect(await inputs()).toEqual(['file:///data/in/dt=2026-02-28/', 'file:///data/in/dt=2026-03-03/']);
  });

  it('a backfill makes one run per day, oldest first, honouring maxActiveRuns; the same backfill adds nothing', async () => {
    const { deps, store, setNow } = await scheduled({ maxActiveRuns: 2 });
    setNow(new Date('2026-03-10T12:00:00Z'));
    const schedule = (await deps.schedules.get(TENANT, 'nightly'))!;
    const ticks = backfillTicks(schedule, '2026-03-01', '2026-03-03', deps.now());
    const first = await backfillSchedule(deps, schedule, ticks);
    expect(first.added).toEqual([
      '2026-03-01T02:00+00:00',
      '2026-03-02T02:00+00:00',
      '2026-03-03T02:00+00:00',
    ]);
    expect(first.runs.map((r) => r.state)).toEqual(['submitted', 'submitted', 'waiting']);
    const again = await backfillSchedule(deps, schedule, ticks);
    expect(again.added).toEqual([]);
    expect(again.runs.map((r) => r.jobId)).toEqual(first.runs.map((r) => r.jobId));
    expect((await store.list()).jobs).toHaveLength(2);
  });

  it('right after an upgrade, a daily tick finds the job its day got under the old day key', async () => {
    const { deps, store } = await scheduled();
    const spec = (await import('../../../jobs/schedule/parse-schedule.js')).renderScheduledSpec(
      (await deps.schedules.get(TENANT, 'nightly'))!.job,
      DUE,
      'UTC',
    );
    const legacyKey = scheduleIdempotencyKey('nightly', '2026-03-01');
    const old = await store.create(spec, {
      tenant: TENANT,
      idempotencyKey: legacyKey,
      id: idempotentJobId(TENANT, legacyKey),
    });
    const outcome = await processTick(deps, tick, DUE);
    if (outcome.outcome === 'skipped') throw new Error('skipped');
    expect(outcome.submitted[0]).toMatchObject({ created: false, record: { id: old.record.id } });
    expect((await store.list()).jobs).toHaveLength(1);
  });

  it('a tick of a paused or deleted schedule removes its scheduler and submits nothing', async () => {
    const { deps, store, schedules, removed } = await scheduled({ paused: true });
    expect(await processTick(deps, tick, DUE)).toEqual({ outcome: 'skipped', reason: 'schedule paused' });
    await schedules.delete(TENANT, 'nightly');
    expect(await processTick(deps, tick, DUE)).toEqual({ outcome: 'skipped', reason: 'schedule deleted' });
    expect(removed).toEqual([`${TENANT}/nightly`, `${TENANT}/nightly`]);
    expect((await store.list()).jobs).toEqual([]);
  });
});
