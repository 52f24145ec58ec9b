import type { ScheduleDetail, ScheduleRunView, ScheduleView } from '../../schemas/schedule.js';
import { formatCount, formatDuration, renderTable } from './output.js';

/** `quiver schedule list`'s columns. */
export const scheduleTableHeaders = ['NAME', 'TENANT', 'CRON', 'TIMEZONE', 'STATE', 'NEXT RUN', 'LAST RUN'];

/** The table row of one schedule: its last run as `<logical time> <job id>`. */
export function scheduleRow(schedule: ScheduleView): string[] {
  const last = schedule.lastRun;
  return [
    schedule.name,
    schedule.tenant,
    schedule.cron,
    schedule.timezone,
    schedule.paused ? 'paused' : 'active',
    schedule.nextRunAt ?? '--',
    last === undefined ? '--' : `${last.logicalTime ?? last.at} ${last.jobId}`,
  ];
}

/** `quiver schedule get`'s and `backfill`'s run columns. */
export const runTableHeaders = ['LOGICAL TIME', 'SOURCE', 'STATUS', 'ROWS', 'DURATION', 'JOB'];

/** The table row of one run: rows and duration `--` until its job has them. */
export function runRow(run: ScheduleRunView): string[] {
  return [
    run.logicalTime,
    run.source,
    run.error === undefined ? run.status : `${run.status} (${run.error.code})`,
    run.rows === null ? '--' : formatCount(run.rows),
    formatDuration(run.durationSeconds),
    run.jobId,
  ];
}

/** A string field of the job template (`input.uri`), placeholders unrendered; undefined when absent. */
function templateField(job: Record<string, unknown>, section: string, field: string): string | undefined {
  const value = (job[section] as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `quiver schedule get`'s text: one labelled line per fact, the next fire times one per line, then the last
 * runs as a table (newest first).
 */
export function describeSchedule(detail: ScheduleDetail): string {
  const last = detail.lastRun;
  const lines: Array<[string, string | undefined]> = [
    ['name', detail.name],
    ['tenant', detail.tenant],
    ['state', detail.paused ? 'paused' : 'active'],
    ['cron', `${detail.cron} (${detail.timezone})`],
    ['catch-up', `${detail.catchUp} within ${detail.catchUpWindow}`],
    [
      'runs',
      `${detail.activeRuns} active, ${detail.waitingRuns} waiting (at most ${detail.maxActiveRuns} active)`,
    ],
    ['input', templateField(detail.job, 'input', 'uri')],
    ['output', templateField(detail.job, 'output', 'uri')],
    ['last run', last === undefined ? undefined : `${last.logicalTime ?? last.at} → job ${last.jobId}`],
    [
      'error',
      detail.lastError === undefined
        ? undefined
        : `${detail.lastError.code}: ${detail.lastError.message} (${detail.lastError.at})`,
    ],
    ['next runs', detail.nextRunTimes.length === 0 ? '--' : detail.nextRunTimes.join('\n          ')],
  ];
  const facts = lines
    .filter((line): line is [string, string] => line[1] !== undefined)
    .map(([label, value]) => `${label.padEnd(9)} ${value}\n`)
    .join('');
  const runs =
    detail.runs.length === 0 ? 'no runs yet\n' : renderTable(runTableHeaders, detail.runs.map(runRow));
  return `${facts}\n${runs}`;
}
