import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import { jobViewSchema } from '../../../schemas/job-record.js';
import {
  type ScheduleInput,
  backfillReplySchema,
  scheduleDetailSchema,
  scheduleListSchema,
  scheduleRunPageSchema,
  scheduleViewSchema,
} from '../../../schemas/schedule.js';
import { templateVars } from '../../../jobs/schedule/render-template.js';
import { runNowTick } from '../../../jobs/schedule/backfill.js';
import { formatLogicalTime } from '../../../jobs/schedule/logical-time.js';
import { makeTenancy } from '../../../services/tenancy/tenancy.js';
import { schedulerIdOf } from '../../../services/scheduler/schedule-queue.js';
import { type ApiHarness, auth, type keys, specInput, startApi } from '../api/api-harness.js';

let h: ApiHarness;

beforeEach(async () => {
  h = await startApi();
});

afterEach(async () => {
  await h.close();
});

type Who = keyof typeof keys;

const schedule: ScheduleInput = {
  name: 'nightly-fraud',
  cron: '30 2 * * *',
  timezone: 'Europe/Berlin',
  job: { ...specInput, input: { uri: 's3://events/dt={date}/', format: 'parquet' } },
};

function put(who: Who, body: unknown = schedule, tenant?: string) {
  return h.app.inject({
    method: 'POST',
    url: `/v1/schedules${tenant === undefined ? '' : `?tenant=${tenant}`}`,
    headers: auth(who),
    payload: body as Record<string, unknown>,
  });
}

const get = (who: Who, path: string) => h.app.inject({ url: `/v1/schedules${path}`, headers: auth(who) });

function expectError(response: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  const body = apiErrorSchema.parse(response.json());
  expect(body.error.code).toBe(code);
  return body;
}

/** The job scheduler BullMQ holds for a schedule, if any. */
const schedulerOf = (tenant: string, name: string) =>
  h.scheduleQueue.queue.getJobScheduler(schedulerIdOf(tenant, name));

describe('/v1/schedules', () => {
  it('creates (201), reads, lists, replaces (200) and deletes (204) a schedule, with its job scheduler', async () => {
    const created = await put('ops');
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/v1/schedules/nightly-fraud');
    const view = scheduleViewSchema.parse(created.json());
    expect(view).toMatchObject({
      tenant: 'ops',
      name: 'nightly-fraud',
      timezone: 'Europe/Berlin',
      enabled: true,
    });
    expect(view.job.webhook).toEqual({ url: 'https://example.com/hooks/quiver' });
    expect(created.body).not.toContain('whsec_');
    expect(view.nextRunAt).not.toBeNull();
    // 02:30 in Berlin is 01:30 UTC in winter.
    expect(view.nextRunAt).toMatch(/T01:30:00\.000Z$/);
    expect(await schedulerOf('ops', 'nightly-fraud')).toMatchObject({
      pattern: '30 2 * * *',
      tz: 'Europe/Berlin',
    });

    const read = await get('ops', '/nightly-fraud');
    expect(read.statusCode).toBe(200);
    const detail = scheduleDetailSchema.parse(read.json());
    expect(detail).toMatchObject({ ...view, paused: false, runs: [], waitingRuns: 0, activeRuns: 0 });
    expect(detail.nextRunTimes).toHaveLength(5);
    expect(detail.nextRunTimes[0]).toBe(view.nextRunAt);

    const replaced = await put('ops', { ...schedule, cron: '0 3 * * *' });
    expect(replaced.statusCode).toBe(200);
    const after = scheduleViewSchema.parse(replaced.json());
    expect(after.createdAt).toBe(view.createdAt);
    expect(after.cron).toBe('0 3 * * *');
    expect(await schedulerOf('ops', 'nightly-fraud')).toMatchObject({ pattern: '0 3 * * *' });

    const list = scheduleListSchema.parse((await get('ops', '?tenant=ops')).json());
    expect(list.schedules.map((s) => s.name)).toEqual(['nightly-fraud']);

    const deleted = await h.app.inject({
      method: 'DELETE',
      url: '/v1/schedules/nightly-fraud',
      headers: auth('ops'),
    });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expectError(await get('ops', '/nightly-fraud'), 404, 'SCHEDULE_NOT_FOUND');
    expect(await schedulerOf('ops', 'nightly-fraud')).toBeUndefined();
    const again = await h.app.inject({
      method: 'DELETE',
      url: '/v1/schedules/nightly-fraud',
      headers: auth('ops'),
    });
    expectError(again, 404, 'SCHEDULE_NOT_FOUND');
  });

  it('disabling keeps the record but removes the job scheduler; enabling brings it back', async () => {
    expect((await put('ops', { ...schedule, enabled: false })).statusCode).toBe(201);
    const view = scheduleViewSchema.parse((await get('ops', '/nightly-fraud')).json());
    expect(view).toMatchObject({ enabled: false, nextRunAt: null });
    expect(await schedulerOf('ops', 'nightly-fraud')).toBeUndefined();
    expect((await put('ops', schedule)).statusCode).toBe(200);
    expect(await schedulerOf('ops', 'nightly-fraud')).toBeDefined();
  });

  it('needs the admin scope to write; a tenant reads only its own schedules; admins act for ?tenant=', async () => {
    expectError(await put('acme'), 403, 'ADMIN_REQUIRED');
    expect(await h.schedules.list()).toEqual([]);

    expect((await put('ops', schedule, 'acme')).statusCode).toBe(201);
    expect((await put('ops', { ...schedule, name: 'globex-only' }, 'globex')).statusCode).toBe(201);

    // Acme reads its own; globex's schedule, or acme's from globex, is not found.
    expect(scheduleViewSchema.parse((await get('acme', '/nightly-fraud')).json()).tenant).toBe('acme');
    expectError(await get('acme', '/globex-only'), 404, 'SCHEDULE_NOT_FOUND');
    expectError(await get('globex', '/nightly-fraud'), 404, 'SCHEDULE_NOT_FOUND');
    expectError(await get('acme', '/nightly-fraud?tenant=globex'), 403, 'ADMIN_REQUIRED');
    expect(scheduleListSchema.parse((await get('acme', '')).json()).schedules.map((s) => s.name)).toEqual([
      'nightly-fraud',
    ]);
    expectError(await get('acme', '?tenant=globex'), 403, 'ADMIN_REQUIRED');

    // Writes by a tenant key are refused even for its own schedules.
    const del = await h.app.inject({
      method: 'DELETE',
      url: '/v1/schedules/nightly-fraud',
      headers: auth('acme'),
    });
    expectError(del, 403, 'ADMIN_REQUIRED');
    const run = await h.app.inject({
      method: 'POST',
      url: '/v1/schedules/nightly-fraud/run',
      headers: auth('acme'),
    });
    expectError(run, 403, 'ADMIN_REQUIRED');

    // The admin sees every tenant's without ?tenant=, one tenant's with it, and its own by name.
    const all = scheduleListSchema.parse((await get('ops', '')).json()).schedules;
    expect(all.map((s) => `${s.tenant}/${s.name}`)).toEqual(['acme/nightly-fraud', 'globex/globex-only']);
    const globex = scheduleListSchema.parse((await get('ops', '?tenant=globex')).json()).schedules;
    expect(globex.map((s) => s.name)).toEqual(['globex-only']);
    expectError(await get('ops', '/nightly-fraud'), 404, 'SCHEDULE_NOT_FOUND');
    expect((await get('ops', '/nightly-fraud?tenant=acme')).statusCode).toBe(200);
  });

  it('refuses an invalid cron, time zone or template with 400 and every problem’s path', async () => {
    const response = await put('ops', {
      name: 'nightly-fraud',
      cron: '0 2 * *',
      timezone: 'Europe/Atlantis',
      job: { ...specInput, input: { uri: 's3://events/{day}/', format: 'parquet' }, priority: 0 },
      colour: 'red',
    });
    const body = expectError(response, 400, 'SCHEDULE_INVALID');
    expect(body.error.problems?.map((p) => p.path).sort()).toEqual(
      ['colour', 'cron', 'job.input.uri', 'job.priority', 'timezone'].sort(),
    );
    expect(body.error.problems?.find((p) => p.path === 'job.input.uri')?.message).toContain('{day}');
    expectError(await put('ops', { ...schedule, name: '../etc' }), 400, 'SCHEDULE_INVALID');
    expectError(await put('ops', schedule, ''), 400, 'REQUEST_INVALID');
    expect(await h.schedules.list()).toEqual([]);
  });

  it('runs a schedule now: 202 with the day’s job, the same job when run again, recorded as its last run', async () => {
    expect((await put('ops', schedule, 'acme')).statusCode).toBe(201);
    const run = () =>
      h.app.inject({
        method: 'POST',
        url: '/v1/schedules/nightly-fraud/run?tenant=acme',
        headers: auth('ops'),
      });
    const first = await run();
    expect(first.statusCode).toBe(202);
    const job = jobViewSchema.parse(first.json());
    expect(first.headers.location).toBe(`/v1/jobs/${job.id}`);
    // The latest 02:30 tick in Berlin: its logical time keys the job, its day renders {date}.
    const tick = runNowTick({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }, undefined, new Date());
    const { date } = templateVars(tick, 'Europe/Berlin');
    expect(job).toMatchObject({
      tenant: 'acme',
      idempotencyKey: `schedule:nightly-fraud:${formatLogicalTime(tick, 'Europe/Berlin')}`,
    });
    expect(job.spec.input.uri).toBe(`s3://events/dt=${date}/`);
    expect(first.body).not.toContain('whsec_');
    expect(h.queued.plans).toEqual([job.id]);

    const second = await run();
    expect(second.statusCode).toBe(202);
    expect(jobViewSchema.parse(second.json()).id).toBe(job.id);
    // Acme sees the job, and the schedule's last run names it.
    expect((await h.app.inject({ url: `/v1/jobs/${job.id}`, headers: auth('acme') })).statusCode).toBe(200);
    const view = scheduleViewSchema.parse((await get('acme', '/nightly-fraud')).json());
    expect(view.lastRun).toMatchObject({ jobId: job.id, date });

    const missing = await h.app.inject({
      method: 'POST',
      url: '/v1/schedules/nope/run',
      headers: auth('ops'),
    });
    expectError(missing, 404, 'SCHEDULE_NOT_FOUND');
  });

  it('records a template that no longer renders when run now: 400 SCHEDULE_INVALID and lastError', async () => {
    // Stored past validation, as a schedule written before a job spec rule changed would be.
    await h.schedules.save('ops', {
      ...schedule,
      timezone: 'UTC',
      enabled: true,
      paused: false,
      catchUp: 'latest',
      catchUpWindow: 'P3D',
      maxActiveRuns: 1,
      job: { ...schedule.job, priority: 0 },
    });
    const run = await h.app.inject({
      method: 'POST',
      url: '/v1/schedules/nightly-fraud/run',
      headers: auth('ops'),
    });
    const body = expectError(run, 400, 'SCHEDULE_INVALID');
    expect(body.error.problems?.map((p) => p.path)).toEqual(['job.priority']);
    const view = scheduleViewSchema.parse((await get('ops', '/nightly-fraud')).json());
    expect(view.lastError).toMatchObject({ code: 'SCHEDULE_INVALID', problems: [{ path: 'job.priority' }] });
    expect(h.queued.plans).toEqual([]);
  });

  it('checks a template against the tenant’s storage grants when saved and when run now', async () => {
    const grants = makeTenancy(
      {
        acme: {
          keys: [],
          admin: false,
          storage: { read: ['s3://events/', 's3://models/'], write: ['s3://scores/'] },
        },
      },
      'enforce',
    );
    const scoped = await startApi({}, { tenancy: grants });
    try {
      const save = (body: ScheduleInput) =>
        scoped.app.inject({
          method: 'POST',
          url: '/v1/schedules?tenant=acme',
          headers: auth('ops'),
          payload: body as unknown as Record<string, unknown>,
        });
      // The rendered `{date}` path is what is checked: a template reaching into another bucket is refused.
      const outside = await save({
        ...schedule,
        job: { ...schedule.job, output: { uri: 's3://globex-scores/{date}/', passthrough: ['event_id'] } },
      });
      const body = expectError(outside, 403, 'STORAGE_FORBIDDEN');
      expect(body.error.problems?.map((p) => p.path)).toEqual(['job.output.uri']);
      const overlapping = await save({
        ...schedule,
        job: { ...schedule.job, output: { uri: 's3://events/dt={date}/scores/', passthrough: ['event_id'] } },
      });
      expectError(overlapping, 403, 'STORAGE_FORBIDDEN');
      expect((await save(schedule)).statusCode).toBe(201);
      const run = await scoped.app.inject({
        method: 'POST',
        url: '/v1/schedules/nightly-fraud/run?tenant=acme',
        headers: auth('ops'),
      });
      expect(run.statusCode).toBe(202);
    } finally {
      await scoped.close();
    }
  });

  it('never answers 5xx to random schedules (fast-check)', async () => {
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.string({ maxLength: 40 }).map((t) => `{${t}}`),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({
        name: fc.oneof(fc.constant('nightly'), fc.string({ maxLength: 120 })),
        cron: fc.oneof(fc.constant('0 2 * * *'), fc.string({ maxLength: 30 })),
        timezone: fc.oneof(
          fc.constantFrom('UTC', 'Asia/Tokyo', '+05:00', 'Etc/GMT+1'),
          fc.string({ maxLength: 30 }),
        ),
        job: fc.oneof(
          value,
          fc
            .dictionary(fc.constantFrom('name', 'input', 'model', 'output', 'labels', 'priority'), value)
            .map((patch) => ({ ...schedule.job, ...patch })),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const response = await h.app.inject({
          method: 'POST',
          url: '/v1/schedules',
          headers: { ...auth('ops'), 'content-type': 'application/json' },
          payload: JSON.stringify(payload),
        });
        expect([200, 201, 400], response.body).toContain(response.statusCode);
        if (response.statusCode >= 400) apiErrorSchema.parse(response.json());
      }),
      { numRuns: 150 },
    );
    // Whatever was saved still reads back.
    expect((await get('ops', '')).statusCode).toBe(200);
  });

  it('backfills 3 days: 3 jobs with yesterday’s partitions, oldest first, at most maxActiveRuns at once; again creates none', async () => {
    const daily = {
      ...schedule,
      timezone: 'UTC',
      maxActiveRuns: 2,
      job: { ...schedule.job, input: { uri: 's3://events/dt={date-1d}/', format: 'parquet' } },
    };
    expect((await put('ops', daily)).statusCode).toBe(201);
    const backfill = (body: unknown) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/schedules/nightly-fraud/backfill',
        headers: auth('ops'),
        payload: body as Record<string, unknown>,
      });
    const first = await backfill({ from: '2026-11-01', to: '2026-11-03' });
    expect(first.statusCode).toBe(202);
    const reply = backfillReplySchema.parse(first.json());
    expect(reply.created).toBe(3);
    expect(reply.runs.map((r) => [r.logicalTime, r.status])).toEqual([
      ['2026-11-01T02:30+00:00', 'queued'],
      ['2026-11-02T02:30+00:00', 'queued'],
      ['2026-11-03T02:30+00:00', 'waiting'],
    ]);
    const jobs = await Promise.all(reply.runs.slice(0, 2).map((r) => h.store.get(r.jobId)));
    expect(jobs.map((j) => j?.spec.input.uri)).toEqual([
      's3://events/dt=2026-10-31/',
      's3://events/dt=2026-11-01/',
    ]);
    expect(await h.store.get(reply.runs[2]!.jobId)).toBeUndefined();

    const again = backfillReplySchema.parse(
      (await backfill({ from: '2026-11-01', to: '2026-11-03' })).json(),
    );
    expect(again.created).toBe(0);
    expect(again.runs.map((r) => r.jobId)).toEqual(reply.runs.map((r) => r.jobId));
    expect(h.queued.plans).toHaveLength(2);

    const page = scheduleRunPageSchema.parse((await get('ops', '/nightly-fraud/runs?limit=2')).json());
    expect(page.runs.map((r) => r.logicalTime)).toEqual(['2026-11-03T02:30+00:00', '2026-11-02T02:30+00:00']);
    const rest = scheduleRunPageSchema.parse(
      (await get('ops', `/nightly-fraud/runs?limit=2&cursor=${page.nextCursor}`)).json(),
    );
    expect(rest).toEqual({
      runs: [expect.objectContaining({ logicalTime: '2026-11-01T02:30+00:00' })],
      nextCursor: null,
    });
    const detail = scheduleDetailSchema.parse((await get('ops', '/nightly-fraud')).json());
    expect(detail).toMatchObject({ waitingRuns: 1, activeRuns: 2 });

    // Reversed, too long, unreadable: 400 with the field path.
    const paths = async (body: unknown) =>
      expectError(await backfill(body), 400, 'SCHEDULE_INVALID').error.problems?.map((p) => p.path);
    expect(await paths({ from: '2026-11-03', to: '2026-11-01' })).toEqual(['to']);
    expect(await paths({ from: '2024-01-01', to: '2026-01-01' })).toEqual(['to']);
    expect(await paths({ from: 'last week', to: '2026-11-01' })).toEqual(['from']);
    expectError(await backfill({ from: '2026-11-01' }), 400, 'REQUEST_INVALID');
  });

  it('pauses and resumes (enabled is the older name of !paused), and refuses unknown offsets at their path', async () => {
    expect((await put('ops')).statusCode).toBe(201);
    const action = (what: string) =>
      h.app.inject({ method: 'POST', url: `/v1/schedules/nightly-fraud/${what}`, headers: auth('ops') });
    const paused = scheduleDetailSchema.parse((await action('pause')).json());
    expect(paused).toMatchObject({ paused: true, enabled: false, nextRunAt: null, nextRunTimes: [] });
    expect(await schedulerOf('ops', 'nightly-fraud')).toBeUndefined();
    const resumed = scheduleDetailSchema.parse((await action('resume')).json());
    expect(resumed).toMatchObject({ paused: false, enabled: true });
    expect(await schedulerOf('ops', 'nightly-fraud')).toBeDefined();
    expectError(await action('pause?tenant=nobody'), 404, 'SCHEDULE_NOT_FOUND');
    expectError(
      await h.app.inject({ method: 'POST', url: '/v1/schedules/nightly-fraud/pause', headers: auth('acme') }),
      403,
      'ADMIN_REQUIRED',
    );

    const bad = await put('ops', {
      ...schedule,
      maxActiveRuns: 0,
      catchUp: 'sometimes',
      job: { ...schedule.job, input: { uri: 's3://events/dt={date-1x}/', format: 'parquet' } },
    });
    const body = expectError(bad, 400, 'SCHEDULE_INVALID');
    expect(body.error.problems?.map((p) => p.path).sort()).toEqual([
      'catchUp',
      'job.input.uri',
      'maxActiveRuns',
    ]);
  });

  it('shows the schedule routes in the OpenAPI document', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, object> }>();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/schedules', '/v1/schedules/{name}', '/v1/schedules/{name}/run']),
    );
    expect(Object.keys(doc.paths['/v1/schedules/{name}'] ?? {}).sort()).toEqual(['delete', 'get']);
  });
});
