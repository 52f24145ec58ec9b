import { QuiverError } from '../../schemas/errors/quiver-error.js';
import type { JobStatus } from '../../schemas/job-record.js';

/** Only a failed or cancelled job can be retried; the API answers 409 naming the state the job is in. */
export class JobNotRetryable extends QuiverError {
  static readonly code = 'JOB_NOT_RETRYABLE';

  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(
      JobNotRetryable.code,
      `${JobNotRetryable.code}: job ${jobId} is ${status}; only a failed or cancelled job can be retried`,
    );
  }
}
