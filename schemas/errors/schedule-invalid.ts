import { QuiverError } from './quiver-error.js';

/** One problem found in a schedule: where (dotted field path; the job template's under `job.`) and what. */
export interface ScheduleProblem {
  path: string;
  message: string;
}

/**
 * A schedule failed validation: its name, cron pattern or time zone, an unknown placeholder in its job
 * template, or the job spec the template renders to. Every problem is listed with its path, as for job
 * specs; the API answers 400, and a tick whose rendered spec no longer validates records it as `lastError`.
 */
export class ScheduleInvalid extends QuiverError {
  static readonly code = 'SCHEDULE_INVALID';

  constructor(readonly problems: readonly ScheduleProblem[]) {
    super(
      ScheduleInvalid.code,
      `${ScheduleInvalid.code}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the schedule\n` +
        problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'),
    );
  }
}
