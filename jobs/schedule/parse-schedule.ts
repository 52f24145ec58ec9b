import { nextRunAfter } from '../../schemas/cron-pattern.js';
import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { ScheduleInvalid, type ScheduleProblem } from '../../schemas/errors/schedule-invalid.js';
import { type JobSpec, parseJobSpec, problemsOf } from '../../schemas/job-spec.js';
import {
  type JobTemplate,
  type ScheduleDefinition,
  jobTemplateSchema,
  scheduleInputSchema,
} from '../../schemas/schedule.js';
import { renderTemplate } from './render-template.js';

/** A job spec problem's path as a schedule's: under `job.` (`job.input.uri`, `job` for the whole spec). */
function underJob(path: string): string {
  if (path === '(root)') return 'job';
  return path.startsWith('[') ? `job${path}` : `job.${path}`;
}

/**
 * The job spec `template` renders to for a run whose logical time is `at`, read in `timeZone`. Throws
 * `ScheduleInvalid` with every unknown placeholder and every job spec problem, under `job.`.
 */
export function renderScheduledSpec(template: JobTemplate, at: Date, timeZone: string): JobSpec {
  const { rendered, problems } = renderTemplate(template, at, timeZone);
  const found: ScheduleProblem[] = problems.map((p) => ({ path: underJob(p.path), message: p.message }));
  try {
    const spec = parseJobSpec(rendered);
    if (found.length === 0) return spec;
  } catch (error) {
    if (!(error instanceof JobSpecInvalid)) throw error;
    found.push(...error.problems.map((p) => ({ path: underJob(p.path), message: p.message })));
  }
  throw new ScheduleInvalid(found);
}

/**
 * Validates a schedule and fills its defaults. The job template is rendered for a run at `sampleAt` and
 * checked as a job spec, so a template that cannot produce a valid job is refused up front. Throws
 * `ScheduleInvalid` listing every problem with its path.
 */
export function parseSchedule(input: unknown, sampleAt: Date = new Date()): ScheduleDefinition {
  const result = scheduleInputSchema.safeParse(input, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
  });
  const problems: ScheduleProblem[] = result.success ? [] : problemsOf(result.error.issues);
  const job = (input as { job?: unknown } | null | undefined)?.job;
  const timeZone = result.success ? result.data.timezone : 'UTC';
  if (jobTemplateSchema.safeParse(job).success) {
    try {
      renderScheduledSpec(job as JobTemplate, sampleAt, timeZone);
    } catch (error) {
      if (!(error instanceof ScheduleInvalid)) throw error;
      problems.push(...error.problems);
    }
  }
  if (result.success && problems.length === 0) {
    try {
      // Intl and cron-parser's time zone database could disagree on a rare name; refuse it here, not at the tick.
      nextRunAfter(result.data.cron, timeZone, sampleAt);
    } catch (error) {
      problems.push({ path: 'timezone', message: `cannot schedule in this time zone: ${String(error)}` });
    }
  }
  if (!result.success || problems.length > 0) throw new ScheduleInvalid(problems);
  return result.data;
}
