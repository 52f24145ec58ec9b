import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { renderScheduledSpec } from '../../../jobs/schedule/parse-schedule.js';
import { backfillSchedule, backfillTicks, runNowTick } from '../../../jobs/schedule/backfill.js';
import { type RunScheduleDeps, runSchedule } from '../../../jobs/schedule/run-schedule.js';
import { nextTicks } from '../../../jobs/schedule/schedule-ticks.js';
import { tickSchedule } from '../../../jobs/schedule/tick-schedule.js';
import { jobViewSchema, toJobView } from '../../../schemas/job-record.js';
import type { JobSpec } from '../../../schemas/job-spec.js';
import {
  type ScheduleRecord,
  type ScheduleRunEntry,
  backfillBodySchema,
  backfillReplySchema,
  runNowBodySchema,
  scheduleDetailSchema,
  scheduleInputSchema,
  scheduleListSchema,
  scheduleParams,
  scheduleRunPageSchema,
  scheduleRunsQuerySchema,
  scheduleTenantQuerySchema,
  scheduleViewSchema,
  toScheduleRunView,
  toScheduleView,
} from '../../../schemas/schedule.js';
import { ScheduleInvalid } from '../../../schemas/errors/schedule-invalid.js';
import type { WebhookAllowlist } from '../../delivery/ssrf-guard.js';
import type { Schedules } from '../../scheduler/schedules.js';
import { type ApiContext, type ZodFastify, principalOf } from '../api-context.js';
import { OutputOverlapsInput } from '../../tenancy/errors/output-overlaps-input.js';
import { StorageForbidden } from '../../tenancy/errors/storage-forbidden.js';
import { AdminRequired } from '../errors/admin-required.js';
import { ScheduleNotFound } from '../errors/schedule-not-found.js';
import { literalWebhookRefusal } from '../webhook-refusal.js';
import { emptyBody, errorResponses, v1Errors } from './route-schemas.js';

/**
 * The tenant a schedule call acts for: the key's own, or with `?tenant=` another one, which needs the
 * admin scope (403 `ADMIN_REQUIRED`; naming one's own tenant is always fine).
 */
function tenantOf(request: FastifyRequest, tenant: string | undefined): string {
  const principal = principalOf(request);
  if (tenant === undefined || tenant === principal.tenant) return principal.tenant;
  if (!principal.admin) throw new AdminRequired(`acting for another tenant (?tenant=${tenant.slice(0, 63)})`);
  return tenant;
}

/** As {@link tenantOf}, for calls that change schedules: those need the admin scope in any case. */
function adminTenantOf(request: FastifyRequest, tenant: string | undefined, what: string): string {
  if (!principalOf(request).admin) throw new AdminRequired(what);
  return tenantOf(request, tenant);
}

/**
 * A job template whose webhook URL renders to one the SSRF guard refuses by its literal address is refused
 * as a submitted job's would be: 400 `SCHEDULE_INVALID` at `job.webhook.url`, unless the allowlist lets it
 * through.
 */
function refuseGuardedTemplateWebhook(spec: JobSpec, allow: WebhookAllowlist): void {
  const refusal = literalWebhookRefusal(spec.webhook?.url, allow);
  if (refusal !== undefined) throw new ScheduleInvalid([{ path: 'job.webhook.url', message: refusal }]);
}

/**
 * The `/v1/schedules` routes. Schedules belong to a tenant; creating, replacing, deleting and running
 * them needs the admin scope (issue 5: "an admin scope for schedules"), and an admin key acts for its own
 * tenant unless it passes `?tenant=`. Any key reads its own tenant's schedules; an admin key lists every
 * tenant's without `?tenant=`. Another tenant's schedule is simply not found (404): names are per tenant.
 */
export function registerScheduleRoutes(app: ZodFastify, context: ApiContext, schedules: Schedules): void {
  const { deps } = context;
  const scheduleOf = async (tenant: string, name: string) => {
    const record = await schedules.get(tenant, name);
    if (record === undefined) throw new ScheduleNotFound(tenant, name);
    return record;
  };
  const runDeps = (): RunScheduleDeps => ({
    store: context.limitedStore,
    queue: deps.queues,
    authorize: context.authorize,
    schedules,
    runs: schedules.runs,
    now: context.now,
  });
  /** Runs as users see them, each with its job's status, rows and duration. */
  const runViews = (entries: readonly ScheduleRunEntry[]) =>
    Promise.all(entries.map(async (e) => toScheduleRunView(e, await deps.store.get(e.jobId))));
  const detailOf = async (record: ScheduleRecord) => {
    const now = context.now();
    const { runs } = await schedules.runs.page(record.tenant, record.name, { limit: 20 });
    let nextRunTimes: string[] = [];
    if (!record.paused) {
      try {
        nextRunTimes = nextTicks(record, now, 5).map((d) => d.toISOString());
      } catch {
        // A stored pattern this version can no longer read: no fire times (a view never fails).
      }
    }
    return {
      ...toScheduleView(record, now),
      nextRunTimes,
      runs: await runViews(runs),
      waitingRuns: await schedules.runs.waitingCount(record.tenant, record.name),
      activeRuns: (await schedules.runs.active(record.tenant, record.name)).length,
    };
  };

  /** Create or replace a schedule. */
  app.post(
    '/schedules',
    {
      schema: {
        summary: 'Create or replace a schedule (admin)',
        description:
          'Runs `job` whenever `cron` (5 fields, or 6 with seconds first) comes due in `timezone` (IANA, ' +
          'default UTC), once `quiver scheduler` runs. Strings of the job template may hold `{date}` (the ' +
          'run’s day, YYYY-MM-DD, in the time zone), `{yyyy}`, `{mm}`, `{dd}` and `{datetime}` (ISO, UTC); ' +
          'the template is rendered and checked as a job spec now, every problem reported with its path ' +
          'under `job.` (400 `SCHEDULE_INVALID`), a webhook URL at a literal loopback, private or ' +
          'link-local address included, as for jobs (`job.webhook.url`). Placeholders take offsets ' +
          '(`{date-1d}`, `{hour-1h}`, `{datetime-6h}`; units d, w, h, m) and `{hour}`, `{minute}` exist too, ' +
          'all read at the run’s logical time (its tick). Each schedule makes one job per tick: its runs ' +
          'submit under the idempotency key `schedule:<name>:<logical time>`. `catchUp` (`none`, `latest`, ' +
          '`all`; default `latest`) and `catchUpWindow` (default `P3D`) say what happens to ticks missed ' +
          'while no scheduler ran or while paused; `maxActiveRuns` (default 1) how many runs may be ' +
          'unfinished at once (the others wait). 201 when created, 200 when a schedule of that name was ' +
          'replaced (keeping its history). `paused: true` (older form `enabled: false`) keeps it without ' +
          'ticking. Webhook secrets are never returned. Needs an admin key; `?tenant=` acts for another tenant.',
        tags: ['schedules'],
        querystring: scheduleTenantQuerySchema,
        body: scheduleInputSchema,
        response: {
          200: scheduleViewSchema,
          201: scheduleViewSchema,
          ...errorResponses(...v1Errors, 403, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const tenant = adminTenantOf(request, request.query.tenant, 'POST /v1/schedules');
      // Rendered for now (templates that do not render were refused by the body's validation already).
      const rendered = renderScheduledSpec(request.body.job, context.now(), request.body.timezone);
      refuseGuardedTemplateWebhook(rendered, context.options.webhookAllow);
      await authorizeTemplate(context, tenant, rendered);
      const { record, created } = await schedules.save(tenant, request.body);
      return reply
        .code(created ? 201 : 200)
        .header('location', `/v1/schedules/${record.name}`)
        .send(toScheduleView(record, context.now()));
    },
  );

  /** List schedules. */
  app.get(
    '/schedules',
    {
      schema: {
        summary: 'List schedules',
        description:
          'The tenant’s schedules by name, each with its next run, last run and last error. Admin keys list ' +
          'every tenant’s (by tenant, then name), or one tenant’s with `tenant`.',
        tags: ['schedules'],
        querystring: scheduleTenantQuerySchema,
        response: { 200: scheduleListSchema, ...errorResponses(...v1Errors, 403) },
      },
    },
    async (request) => {
      const { tenant } = request.query;
      const principal = principalOf(request);
      const records = await schedules.list(
        principal.admin && tenant === undefined ? {} : { tenant: tenantOf(request, tenant) },
      );
      const now = context.now();
      return { schedules: records.map((record) => toScheduleView(record, now)) };
    },
  );

  /** Read a schedule. */
  app.get(
    '/schedules/:name',
    {
      schema: {
        summary: 'Get a schedule',
        description:
          'A schedule of the key’s tenant (or, for admin keys, of `tenant`) with its next run (null when ' +
          'paused) and next five fire times (`nextRunTimes`), its last run (`at`, `date`, `logicalTime`, ' +
          '`jobId`), the last run’s error if it failed, its last 20 runs newest first (`runs`: logical ' +
          'time, source, job id, status, rows, duration) and how many runs wait and are active.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        response: { 200: scheduleDetailSchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request) => {
      const record = await scheduleOf(tenantOf(request, request.query.tenant), request.params.name);
      return detailOf(record);
    },
  );

  /** Page through a schedule's runs. */
  app.get(
    '/schedules/:name/runs',
    {
      schema: {
        summary: 'List a schedule’s runs',
        description:
          'Every run of the schedule, newest logical time first, `limit` (default 20, at most 200) at a ' +
          'time; pass `nextCursor` as `cursor` for the next page. Waiting runs show status `waiting`.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleRunsQuerySchema,
        response: { 200: scheduleRunPageSchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request) => {
      const { tenant, limit, cursor } = request.query;
      const record = await scheduleOf(tenantOf(request, tenant), request.params.name);
      const page = await schedules.runs.page(record.tenant, record.name, {
        limit,
        ...(cursor === undefined ? {} : { before: Number(cursor) }),
      });
      return {
        runs: await runViews(page.runs),
        nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
      };
    },
  );

  /** Backfill a range of a schedule's ticks. */
  app.post(
    '/schedules/:name/backfill',
    {
      schema: {
        summary: 'Backfill a schedule (admin)',
        description:
          'One run per tick from `from` to `to`, both included: dates (`2026-11-20`, whole days in the ' +
          'schedule’s zone) or times (`2026-11-20T02:30` in the zone, or with `Z` or an offset); ticks after ' +
          'now are left out; at most 366 ticks. Runs start oldest first as `maxActiveRuns` allows (the ' +
          'others wait; `quiver scheduler` starts them as earlier ones end). A tick that already has a run ' +
          'keeps it: the same backfill again creates nothing and returns the same runs (`created: 0`). A ' +
          'bad, reversed, future or too long range is 400 `SCHEDULE_INVALID` at `from` or `to`. 202.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        body: backfillBodySchema,
        response: { 202: backfillReplySchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request, reply) => {
      const tenant = adminTenantOf(request, request.query.tenant, 'POST /v1/schedules/:name/backfill');
      const record = await scheduleOf(tenant, request.params.name);
      const ticks = backfillTicks(record, request.body.from, request.body.to, context.now());
      const result = await backfillSchedule(runDeps(), record, ticks);
      return reply.code(202).send({ created: result.added.length, runs: await runViews(result.runs) });
    },
  );

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(
      `/schedules/:name/${action}`,
      {
        schema: {
          summary: paused ? 'Pause a schedule (admin)' : 'Resume a schedule (admin)',
          description: paused
            ? 'Stops the schedule’s ticks (its job scheduler goes) and holds its waiting runs; jobs already ' +
              'submitted go on. Same as saving it with `paused: true` (or the older `enabled: false`). 200.'
            : 'Starts the schedule’s ticks again, catches up the ticks missed while paused per its ' +
              '`catchUp` policy inside `catchUpWindow`, and lets its waiting runs start. 200.',
          tags: ['schedules'],
          params: scheduleParams,
          querystring: scheduleTenantQuerySchema,
          body: emptyBody,
          response: { 200: scheduleDetailSchema, ...errorResponses(...v1Errors, 403, 404) },
        },
      },
      async (request) => {
        const tenant = adminTenantOf(request, request.query.tenant, `POST /v1/schedules/:name/${action}`);
        const record = await schedules.setPaused(tenant, request.params.name, paused);
        if (record === undefined) throw new ScheduleNotFound(tenant, request.params.name);
        if (!paused) await tickSchedule(runDeps(), record);
        return detailOf(record);
      },
    );
  }

  /** Delete a schedule. */
  app.delete(
    '/schedules/:name',
    {
      schema: {
        summary: 'Delete a schedule (admin)',
        description:
          'Removes the schedule and its job scheduler: no more runs. Jobs it already submitted are ' +
          'untouched. Needs an admin key.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        response: { 204: z.null().describe('Deleted'), ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const tenant = adminTenantOf(request, request.query.tenant, 'DELETE /v1/schedules/:name');
      if (!(await schedules.delete(tenant, name))) throw new ScheduleNotFound(tenant, name);
      return reply.code(204).send(null);
    },
  );

  /** Run a schedule now. */
  app.post(
    '/schedules/:name/run',
    {
      schema: {
        summary: 'Run a schedule now (admin)',
        description:
          'Submits the job of the schedule’s latest tick (or, with `at`, of the latest tick at or before ' +
          'that time, or on that day), under the same idempotency key as its ticks: when the tick already ' +
          'has its job (from a tick, a backfill or an earlier call), that job is returned instead of a ' +
          'second one. Starts at once whatever `maxActiveRuns` says. Works on a paused schedule too. 202 ' +
          'with the job; a template that no longer renders to a valid spec is 400 `SCHEDULE_INVALID` (and ' +
          'recorded as `lastError`), as is an `at` that is unreadable, in the future or without a tick. ' +
          'Needs an admin key.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        body: runNowBodySchema,
        response: { 202: jobViewSchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request, reply) => {
      const tenant = adminTenantOf(request, request.query.tenant, 'POST /v1/schedules/:name/run');
      const record = await scheduleOf(tenant, request.params.name);
      const tick = runNowTick(record, request.body?.at, context.now());
      const run = await runSchedule(runDeps(), record, tick);
      return reply.code(202).header('location', `/v1/jobs/${run.record.id}`).send(toJobView(run.record));
    },
  );
}

/**
 * The template as rendered now, checked against the tenant's grants like a submitted job, with the field
 * paths under `job.`.
 */
async function authorizeTemplate(context: ApiContext, tenant: string, spec: JobSpec): Promise<void> {
  try {
    await context.authorize(spec, tenant);
  } catch (error) {
    if (error instanceof StorageForbidden && error.path !== undefined)
      throw new StorageForbidden(error.uri, error.access, error.grants, `job.${error.path}`);
    if (error instanceof OutputOverlapsInput)
      throw new OutputOverlapsInput(error.output, error.input, 'job.output.uri');
    throw error;
  }
}
