import { QuiverError } from '../../../schemas/errors/quiver-error.js';
import type { JobStatus } from '../../../schemas/job-record.js';

/**
 * A visible job has no run report at its report location: it has not finished yet, or it finished before
 * Quiver wrote reports (or finalize never got that far). The message says which, from the job's status.
 */
export class ReportNotFound extends QuiverError {
  static readonly code = 'REPORT_NOT_FOUND';

  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
    readonly reportUri: string,
  ) {
    super(ReportNotFound.code, `${ReportNotFound.code}: ${reasonOf(jobId, status)} (looked at ${reportUri})`);
  }
}

const unfinished: ReadonlySet<JobStatus> = new Set([
  'queued',
  'planning',
  'running',
  'finalizing',
  'cancelling',
]);

function reasonOf(jobId: string, status: JobStatus): string {
  if (unfinished.has(status)) return `job ${jobId} is ${status}; its report is written when it finishes`;
  return `job ${jobId} is ${status} and has no report (it ended before finalize wrote one, or before Quiver wrote reports)`;
}
