import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { jobSpecSchema, parseJobSpec } from '../../schemas/job-spec.js';
import { scheduleInputSchema } from '../../schemas/schedule.js';
import { parseSchedule } from '../../jobs/schedule/parse-schedule.js';
import { RequestInvalid, type RequestProblem } from './errors/request-invalid.js';

/** How each part of a request is named in problem paths; a body's paths are the spec's own (`webhook.url`). */
const partNames: Record<string, string> = {
  querystring: 'query',
  params: 'params',
  headers: 'headers',
};

function problemsOf(issues: readonly z.core.$ZodIssue[], part: string): RequestProblem[] {
  const at = (path: readonly PropertyKey[]): string =>
    [part, ...path.map(String)].filter((segment) => segment !== '').join('.') || '(root)';
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: at([...issue.path, key]), message: 'unknown field' }))
      : [{ path: at(issue.path), message: issue.message }],
  );
}

/**
 * Bodies checked by their own parser, which reports problems with field paths of its own and checks more
 * than the schema shows (a schedule's job template is rendered and checked as a job spec).
 */
const ownParsers = new Map<z.ZodType, (data: unknown) => unknown>([
  [jobSpecSchema, parseJobSpec],
  [scheduleInputSchema, (data) => parseSchedule(data)],
]);

/**
 * Fastify validator for zod route schemas. A job spec body goes through `parseJobSpec`, the one place that
 * turns spec problems into field paths (`JobSpecInvalid`), and a schedule through `parseSchedule`
 * (`ScheduleInvalid`, the template's problems under `job.`); every other part fails with `RequestInvalid`,
 * paths prefixed by the part (`query.limit`, `headers.idempotency-key`). Both answer 400.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const parse = ownParsers.get(schema);
  if (parse !== undefined) {
    return (data) => {
      try {
        // No body at all arrives as null; report it as the missing spec it is.
        return { value: parse(data ?? undefined) };
      } catch (error) {
        if (error instanceof JobSpecInvalid || error instanceof ScheduleInvalid) return { error };
        throw error;
      }
    };
  }
  const part = partNames[httpPart ?? ''] ?? '';
  return (data) => {
    const result = schema.safeParse(data);
    return result.success
      ? { value: result.data }
      : { error: new RequestInvalid(problemsOf(result.error.issues, part)) };
  };
};
