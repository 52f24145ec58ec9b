import { QuiverError } from '../../../schemas/errors/quiver-error.js';
import type { JobStatus } from '../../../schemas/job-record.js';

/** Results were asked for a job that has not succeeded (yet, or ever): there is no manifest to trust. */
export class JobNotSucceeded extends QuiverError {
  static readonly code = 'JOB_NOT_SUCCEEDED';

  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(JobNotSucceeded.code, `job ${jobId} is ${status}; results exist only once it has succeeded`);
  }
}
