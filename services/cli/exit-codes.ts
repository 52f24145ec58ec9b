import type { JobStatus } from '../../schemas/job-record.js';
import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { ApiRequestError } from './errors/api-request-error.js';
import { SpecFileInvalid } from './errors/spec-file-invalid.js';
import { UsageError } from './errors/usage-error.js';

/** Exit codes scripts can rely on (listed in `quiver --help`). */
export const exitCodes = {
  /** The command did what it was asked; a watched job succeeded. */
  ok: 0,
  /** The API refused the call (auth, conflict, rate limit, server error), could not be reached, or a bug. */
  error: 1,
  /**
   * Bad command line, or an invalid job spec or schedule (checked locally, or refused by the API with HTTP
   * 400).
   */
  usage: 2,
  /** The watched job failed (a watched backfill: any of its runs failed or was refused). */
  jobFailed: 3,
  /** The watched job was cancelled (a watched backfill: any of its runs, none failed). */
  jobCancelled: 4,
  /** No such job or schedule (unknown id or name, or another tenant's). */
  notFound: 5,
  /** `--timeout` ran out while the watched job was still going. */
  timedOut: 6,
  /** The watched job expired: it was still queued when its `expiresAfterSeconds` ran out. */
  jobExpired: 7,
} as const;
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** The statuses a job never leaves. */
export const terminalStatuses: ReadonlySet<JobStatus> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'expired',
]);

/** The exit code of a watch that ended in `status`: its outcome when terminal, else 0. */
export function exitCodeForStatus(status: JobStatus): ExitCode {
  if (status === 'failed') return exitCodes.jobFailed;
  if (status === 'cancelled') return exitCodes.jobCancelled;
  if (status === 'expired') return exitCodes.jobExpired;
  return exitCodes.ok;
}

/** The exit code of a command that threw `error`. */
export function exitCodeForError(error: unknown): ExitCode {
  if (
    error instanceof UsageError ||
    error instanceof JobSpecInvalid ||
    error instanceof ScheduleInvalid ||
    error instanceof SpecFileInvalid
  )
    return exitCodes.usage;
  if (error instanceof ApiRequestError) {
    if (error.status === 404) return exitCodes.notFound;
    if (error.status === 400 || error.status === 422) return exitCodes.usage;
  }
  return exitCodes.error;
}
