import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { renderScheduledSpec } from '../../../jobs/schedule/parse-schedule.js';
import { runSchedule } from '../../../jobs/schedule/run-schedule.js';
import { jobViewSchema, toJobView } from '../../../schemas/job-record.js';
import type { JobSpec } from '../../../schemas/job-spec.js';
import {
  scheduleInputSchema,
  scheduleListSchema,
  scheduleParams,
  scheduleTenantQuerySchema,
  scheduleViewSchema,
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
          'link-local address included, as for jobs (`job.webhook.url`). Each schedule makes one job per day: its runs submit ' +
          'under the idempotency key `schedule:<name>:<date>`. 201 when created, 200 when a schedule of ' +
          'that name was replaced (keeping its history). `enabled: false` keeps it without ticking. Webhook ' +
          'secrets are never returned. Needs an admin key; `?tenant=` acts for another tenant.',
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
          'disabled), its last run (`at`, `date`, `jobId`) and the last run’s error, if it failed.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        response: { 200: scheduleViewSchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request) => {
      const record = await scheduleOf(tenantOf(request, request.query.tenant), request.params.name);
      return toScheduleView(record, context.now());
    },
  );

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
          'Submits the schedule’s job for the current day in its time zone, under the same idempotency key ' +
          'as its ticks: when the day already has its job (from a tick or an earlier call), that job is ' +
          'returned instead of a second one. Works on a disabled schedule too. 202 with the job; a template ' +
          'that no longer renders to a valid spec is 400 `SCHEDULE_INVALID` (and recorded as `lastError`). ' +
          'Needs an admin key.',
        tags: ['schedules'],
        params: scheduleParams,
        querystring: scheduleTenantQuerySchema,
        body: emptyBody,
        response: { 202: jobViewSchema, ...errorResponses(...v1Errors, 403, 404) },
      },
    },
    async (request, reply) => {
      const tenant = adminTenantOf(request, request.query.tenant, 'POST /v1/schedules/:name/run');
      const record = await scheduleOf(tenant, request.params.name);
      const run = await runSchedule(
        {
          store: context.limitedStore,
          queue: deps.queues,
          authorize: context.authorize,
          schedules,
        },
        record,
        context.now(),
      );
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
