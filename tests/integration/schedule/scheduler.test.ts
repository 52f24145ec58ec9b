import { specAuthorizer } from '../../../services/tenancy/authorize-spec.js';
import { makeTenancy } from '../../../services/tenancy/tenancy.js';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TickDeps, processTick } from '../../../jobs/schedule/process-tick.js';
import { tickSchedule } from '../../../jobs/schedule/tick-schedule.js';
import type { ScheduleDefinition } from '../../../schemas/schedule.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import { makeRedisDeliveries } from '../../../services/delivery/redis-deliveries.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { type PipelineQueues, makeQueues, planJobId } from '../../../services/queue/queues.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import {
  type ScheduleQueue,
  type TickPayload,
  makeScheduleQueue,
  schedulerIdOf,
} from '../../../services/scheduler/schedule-queue.js';
import { makeRedisScheduleRuns } from '../../../services/scheduler/schedule-runs.js';
import { makeRedisScheduleStore } from '../../../services/scheduler/schedule-store.js';
import type { ScheduleRuns } from '../../../jobs/ports/schedule-runs.js';
import type { ScheduleStore } from '../../../jobs/ports/schedule-store.js';
import { type Schedules, makeSchedules } from '../../../services/scheduler/schedules.js';
import { runSchedulerProcess } from '../../../services/scheduler/scheduler-process.js';
import { type SchedulerOptions, schedulerDefaults } from '../../../services/scheduler/scheduler-options.js';
import { makeSchedulerWorker } from '../../../services/scheduler/scheduler-worker.js';
import { makeLog } from '../../../services/process/log.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { keysOf, spec, specInput } from '../api/api-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something other than undefined, or fails after `timeoutMs`. */
async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

interface LogEvent {
  msg: string;
  level: string;
  [key: string]: unknown;
}

let redis: Redis;
let prefix: string;
let store: JobStore;
let queues: PipelineQueues;
let scheduleStore: ScheduleStore;
let scheduleQueue: ScheduleQueue;
let schedules: Schedules;
let runs: ScheduleRuns;
let workers: Worker<TickPayload>[];
let events: LogEvent[];

beforeEach(() => {
  redis = makeRedis(redisConfigFromEnv().url);
  prefix = `{test-${randomBytes(6).toString('hex')}}`;
  store = makeRedisJobStore(redis, prefix);
  queues = makeQueues(redis, prefix);
  scheduleStore = makeRedisScheduleStore(redis, prefix);
  scheduleQueue = makeScheduleQueue(redis, prefix);
  runs = makeRedisScheduleRuns(redis, prefix);
  schedules = makeSchedules(scheduleStore, scheduleQueue, runs);
  workers = [];
  events = [];
});

afterEach(async () => {
  await Promise.allSettled(workers.map((w) => w.close()));
  await Promise.allSettled([queues.close(), scheduleQueue.close()]);
  const found = await keysOf(redis, prefix);
  if (found.length > 0) await redis.del(...found);
  await redis.quit();
});

const tickDeps = (): Omit<TickDeps, 'log'> => ({
  store,
  queue: queues,
  schedules: scheduleStore,
  runs,
  now: () => new Date(),
  removeScheduler: (tenant, name) => scheduleQueue.remove(tenant, name),
});

/** A scheduler process's worker, in this process; its JSON lines land in `events`. */
function startScheduler(extra: Partial<TickDeps> = {}): Worker<TickPayload> {
  const sink = { write: (line: string) => events.push(JSON.parse(line) as LogEvent) };
  const worker = makeSchedulerWorker({
    connection: redis,
    prefix,
    deps: { ...tickDeps(), ...extra },
    log: makeLog({ level: 'info', format: 'json', destination: sink }),
  });
  workers.push(worker);
  return worker;
}

const ticked = () =>
  events.filter((e) => e.msg === 'job submitted' || e.msg === "the run's job already exists");

const everySecond = (name = 'every-second', job: Record<string, unknown> = {}): ScheduleDefinition =>
  parseSchedule({
    name,
    cron: '* * * * * *',
    job: { ...specInput, input: { uri: 'file:///data/dt={date}/', format: 'parquet' }, ...job },
    maxActiveRuns: 100,
  });

/** The schedule store with its clock in the past: schedules created before the simulated ticks. */
const pastStore = () =>
  makeRedisScheduleStore(redis, prefix, { now: () => new Date('2026-01-01T00:00:00Z') });

describe('quiver scheduler (BullMQ job schedulers, real Redis)', () => {
  it('ticking every second, two scheduler workers make one job per logical second with the date rendered; delete stops the ticks', async () => {
    await schedules.save('acme', everySecond());
    startScheduler();
    startScheduler();
    await eventually(() => (ticked().length >= 3 ? true : undefined), 15_000);

    const { jobs } = await store.list({ tenant: 'acme', limit: 100 });
    const keys = jobs.map((j) => j.idempotencyKey);
    // One job per tick, keyed by its logical time (seconds shown when not zero).
    expect(new Set(keys).size).toBe(jobs.length);
    for (const key of keys)
      expect(key).toMatch(/^schedule:every-second:\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?\+00:00$/);
    const job = jobs[0];
    expect(job?.spec.input.uri).toMatch(/^file:\/\/\/data\/dt=\d{4}-\d\d-\d\d\/$/);
    expect(await queues.plan.getJob(planJobId(job?.id ?? ''))).toBeDefined();
    const submitted = ticked().filter((e) => e.msg === 'job submitted');
    expect(new Set(submitted.map((e) => e.jobId)).size).toBe(submitted.length);

    const schedule = await scheduleStore.get('acme', 'every-second');
    // The tick's due time (whole seconds), not the moment a worker took it.
    expect(schedule?.lastRun?.at).toMatch(/:\d\d\.000Z$/);

    expect(await schedules.delete('acme', 'every-second')).toBe(true);
    expect(await scheduleQueue.queue.getJobScheduler(schedulerIdOf('acme', 'every-second'))).toBeUndefined();
    expect(await keysOf(redis, `${prefix}:schedule-runs:acme:every-second`)).toEqual([]);
    await sleep(300); // a tick already in hand may finish
    const before = events.length;
    await sleep(2_000);
    expect(events.slice(before)).toEqual([]);
    expect(await scheduleQueue.queue.getJobCounts('waiting', 'delayed', 'active')).toEqual({
      waiting: 0,
      delayed: 0,
      active: 0,
    });
  });

  it('maxActiveRuns on Redis: ticks beyond it wait in order and start as runs end, never twice', async () => {
    const log = makeRecordingLog();
    let now = new Date('2026-11-27T02:00:00Z');
    const deps = { ...tickDeps(), log, now: () => now };
    await pastStore().put('acme', { ...everySecond('hourly'), cron: '0 * * * *', maxActiveRuns: 2 });
    for (const hour of ['02', '03', '04', '05']) {
      now = new Date(`2026-11-27T${hour}:00:00Z`);
      await processTick(deps, { tenant: 'acme', name: 'hourly' }, now);
    }
    const keysNow = async () =>
      (await store.list({ tenant: 'acme' })).jobs.map((j) => j.idempotencyKey).sort();
    expect(await keysNow()).toEqual([
      'schedule:hourly:2026-11-27T02:00+00:00',
      'schedule:hourly:2026-11-27T03:00+00:00',
    ]);
    expect(await runs.waitingCount('acme', 'hourly')).toBe(2);
    const first = (await store.list({ tenant: 'acme' })).jobs.find((j) =>
      j.idempotencyKey?.endsWith('T02:00+00:00'),
    )!;
    await store.transition(first.id, 'cancelling');
    await store.transition(first.id, 'cancelled');
    // Three passes at once (three processes): one slot freed, one run starts.
    const record = (await scheduleStore.get('acme', 'hourly'))!;
    await Promise.all([0, 1, 2].map(() => tickSchedule(deps, record)));
    expect(await keysNow()).toHaveLength(3);
    expect((await keysNow())[2]).toBe('schedule:hourly:2026-11-27T04:00+00:00');
    expect(await runs.waitingCount('acme', 'hourly')).toBe(1);
    const page = await runs.page('acme', 'hourly', { limit: 3 });
    expect(page.runs.map((r) => [r.logicalTime, r.state])).toEqual([
      ['2026-11-27T05:00+00:00', 'waiting'],
      ['2026-11-27T04:00+00:00', 'submitted'],
      ['2026-11-27T03:00+00:00', 'submitted'],
    ]);
    expect((await runs.page('acme', 'hourly', { limit: 3, before: page.nextBefore! })).runs).toHaveLength(1);
  });

  it('a tick delivered twice makes one job; the day is the schedule’s time zone’s', async () => {
    const log = makeRecordingLog();
    const lateEvening = new Date('2026-11-27T23:30:00Z');
    const afterMidnight = new Date('2026-11-28T00:30:00Z');
    let now = lateEvening;
    const deps = { ...tickDeps(), log, now: () => now };
    await pastStore().put('acme', { ...everySecond('tokyo'), cron: '30 * * * *', timezone: 'Asia/Tokyo' });

    await processTick(deps, { tenant: 'acme', name: 'tokyo' }, lateEvening);
    await processTick(deps, { tenant: 'acme', name: 'tokyo' }, lateEvening);
    now = afterMidnight;
    await processTick(deps, { tenant: 'acme', name: 'tokyo' }, afterMidnight);
    const jobs = (await store.list({ tenant: 'acme' })).jobs;
    expect(jobs.map((j) => [j.idempotencyKey, j.spec.input.uri]).sort()).toEqual([
      ['schedule:tokyo:2026-11-28T08:30+09:00', 'file:///data/dt=2026-11-28/'],
      ['schedule:tokyo:2026-11-28T09:30+09:00', 'file:///data/dt=2026-11-28/'],
    ]);
    expect(log.records.filter((r) => r.msg === 'job submitted').map((r) => r.logicalTime)).toEqual([
      '2026-11-28T08:30+09:00',
      '2026-11-28T09:30+09:00',
    ]);
  });

  it('a template that no longer renders fails the tick once (no retries), logged and recorded; a fix clears it', async () => {
    // Written past parseSchedule, as a record stored before a job spec rule changed would be.
    await schedules.save('acme', { ...everySecond('broken'), job: { ...everySecond().job, priority: 99 } });
    startScheduler();
    const failed = await eventually(async () => (await scheduleQueue.queue.getFailed())[0], 15_000);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toContain('SCHEDULE_INVALID');
    const broken = await scheduleStore.get('acme', 'broken');
    expect(broken?.lastError).toMatchObject({
      code: 'SCHEDULE_INVALID',
      problems: [{ path: 'job.priority' }],
    });
    expect(broken?.lastRun).toBeUndefined();
    const logged = events.find((e) => e.level === 'error' && e.schedule === 'broken');
    expect(logged?.msg).toContain('no longer renders');
    expect((await store.list({ tenant: 'acme' })).jobs).toEqual([]);

    await schedules.save('acme', everySecond('broken'));
    const fixed = await eventually(async () => {
      const record = await scheduleStore.get('acme', 'broken');
      return record?.lastRun === undefined ? undefined : record;
    }, 15_000);
    expect(fixed.lastError).toBeUndefined();
  });

  it('a template outside the tenant’s grants (changed since it was saved) fails the tick once, recorded', async () => {
    await schedules.save('acme', everySecond('outside'));
    const tenancy = makeTenancy(
      { acme: { keys: [], admin: false, storage: { read: ['s3://events/'], write: ['s3://scores/'] } } },
      'enforce',
    );
    startScheduler({ authorize: specAuthorizer(tenancy) });
    const failed = await eventually(async () => (await scheduleQueue.queue.getFailed())[0], 15_000);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toContain('STORAGE_FORBIDDEN');
    expect((await scheduleStore.get('acme', 'outside'))?.lastError).toMatchObject({
      code: 'STORAGE_FORBIDDEN',
      problems: [{ path: 'job.input.uri' }],
    });
    expect((await store.list({ tenant: 'acme' })).jobs).toEqual([]);
  });

  it('a tick for a deleted or disabled schedule removes its job scheduler; sync removes strays and restores missing ones', async () => {
    const deps = { ...tickDeps(), log: makeRecordingLog() };
    await scheduleQueue.apply({
      tenant: 'acme',
      name: 'gone',
      cron: '0 2 * * *',
      timezone: 'UTC',
      enabled: true,
    });
    expect(await processTick(deps, { tenant: 'acme', name: 'gone' }, new Date())).toEqual({
      outcome: 'skipped',
      reason: 'schedule deleted',
    });
    expect(await scheduleQueue.queue.getJobScheduler(schedulerIdOf('acme', 'gone'))).toBeUndefined();

    const kept = await scheduleStore.put('acme', { ...everySecond('kept'), cron: '0 2 * * *' });
    const off = await scheduleStore.put('acme', { ...everySecond('off'), enabled: false });
    await scheduleQueue.apply({ ...off.record, enabled: true });
    await scheduleQueue.apply({
      tenant: 'globex',
      name: 'stray',
      cron: '0 2 * * *',
      timezone: 'UTC',
      enabled: true,
    });
    const { removed } = await scheduleQueue.sync(await scheduleStore.list());
    // The disabled one's scheduler goes as its record is applied; the stray one has no record at all.
    expect(removed).toEqual(['globex/stray']);
    const left = await scheduleQueue.queue.getJobSchedulers();
    expect(left.map((s) => s.key)).toEqual([schedulerIdOf('acme', kept.record.name)]);
  });

  describe('the scheduler process', () => {
    const start = (signals: EventEmitter, options: Partial<SchedulerOptions> = {}) => {
      const sink = { write: (line: string) => events.push(JSON.parse(line) as LogEvent) };
      return runSchedulerProcess(
        {
          scheduler: { ...schedulerDefaults, shutdownGraceMs: 5_000, concurrency: 2, ...options },
          redis: { url: redisConfigFromEnv().url, prefix },
        },
        { signals, log: makeLog({ level: 'info', format: 'json', destination: sink }) },
      );
    };

    it('syncs job schedulers at start, submits due jobs, and drains on the first SIGTERM (exit 0)', async () => {
      // A record without its scheduler (a crash between the two writes) and a scheduler without a record.
      await scheduleStore.put('acme', everySecond());
      await scheduleQueue.apply({
        tenant: 'globex',
        name: 'stray',
        cron: '0 2 * * *',
        timezone: 'UTC',
        enabled: true,
      });
      const signals = new EventEmitter();
      const scheduler = start(signals);
      await eventually(() => events.find((e) => e.msg === 'job schedulers in sync'));
      expect(events.find((e) => e.msg === 'job schedulers in sync')).toMatchObject({
        removedStale: ['globex/stray'],
      });
      await eventually(() => events.find((e) => e.msg === 'job submitted'), 15_000);

      signals.emit('SIGTERM', 'SIGTERM');
      expect(scheduler.state).toBe('draining');
      expect(await scheduler.exited).toBe(0);
      expect(scheduler.state).toBe('stopped');
      expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);
    });

    it('removes jobs that ended before the retention period, with their deliveries, at start', async () => {
      const day = 24 * 60 * 60 * 1000;
      const deliveries = makeRedisDeliveries({ redis, prefix, queues });
      // Jobs created and ended 40 days ago (one succeeded with a delivery, one cancelled), one still running
      // since then, and one that ended today.
      const past = makeRedisJobStore(redis, prefix, { now: () => new Date(Date.now() - 40 * day) });
      const ended = async (jobStore: JobStore, key: string, to: 'succeeded' | 'cancelled') => {
        const { record } = await jobStore.create(spec, { tenant: 'acme', idempotencyKey: key });
        const path =
          to === 'cancelled' ? ['cancelling', 'cancelled'] : ['planning', 'running', 'finalizing', to];
        let last = record;
        for (const status of path) last = await jobStore.transition(record.id, status as typeof to);
        return last;
      };
      const oldSucceeded = await ended(past, 'old-1', 'succeeded');
      await deliveries.announce(oldSucceeded);
      const oldCancelled = await ended(past, 'old-2', 'cancelled');
      const { record: oldRunning } = await past.create(spec, { tenant: 'acme' });
      await past.transition(oldRunning.id, 'planning');
      const recent = await ended(store, 'new-1', 'succeeded');
      await deliveries.announce(recent);
      expect(await deliveries.list(oldSucceeded.id)).toHaveLength(1);

      const signals = new EventEmitter();
      const scheduler = start(signals, { jobRetentionMs: 30 * day });
      const removed = await eventually(() => events.find((e) => e.msg === 'expired jobs removed'));
      expect(removed).toMatchObject({ deleted: 2, examined: 3 });

      for (const gone of [oldSucceeded, oldCancelled]) {
        expect(await store.get(gone.id)).toBeUndefined();
        expect(await keysOf(redis, `${prefix}:job:${gone.id}`)).toEqual([]);
      }
      expect(await deliveries.list(oldSucceeded.id)).toEqual([]);
      const listed = (await store.list({ tenant: 'acme', limit: 10 })).jobs.map((j) => j.id);
      expect(listed.sort()).toEqual([oldRunning.id, recent.id].sort());
      expect((await store.get(oldRunning.id))?.status).toBe('planning');
      expect(await deliveries.list(recent.id)).toHaveLength(1);
      // The removed job's idempotency key is free again: the same key makes a new job.
      const again = await store.create(spec, { tenant: 'acme', idempotencyKey: 'old-1' });
      expect(again.created).toBe(true);
      expect(again.record.id).not.toBe(oldSucceeded.id);

      signals.emit('SIGTERM', 'SIGTERM');
      expect(await scheduler.exited).toBe(0);
    });

    it('keeps every job with retention off', async () => {
      const past = makeRedisJobStore(redis, prefix, {
        now: () => new Date(Date.now() - 400 * 24 * 3600_000),
      });
      const { record } = await past.create(spec, { tenant: 'acme' });
      await past.transition(record.id, 'cancelling');
      await past.transition(record.id, 'cancelled');
      const signals = new EventEmitter();
      const scheduler = start(signals, { jobRetentionMs: undefined });
      await eventually(() => events.find((e) => e.msg === 'scheduler started'));
      await eventually(() => events.find((e) => e.msg === 'job schedulers in sync'));
      signals.emit('SIGTERM', 'SIGTERM');
      expect(await scheduler.exited).toBe(0);
      expect(events.find((e) => e.msg === 'scheduler started')).toMatchObject({ jobRetentionDays: 'off' });
      expect((await store.get(record.id))?.status).toBe('cancelled');
    });

    it('exits at once with 128 + the signal’s number on a second signal', async () => {
      const signals = new EventEmitter();
      const scheduler = start(signals);
      signals.emit('SIGINT', 'SIGINT');
      signals.emit('SIGTERM', 'SIGTERM');
      expect(await scheduler.exited).toBe(128 + 15);
      // The drain still closes everything behind the forced exit; no connection is left open.
      await scheduler.drain('test');
      expect(scheduler.state).toBe('stopped');
    });
  });
});
