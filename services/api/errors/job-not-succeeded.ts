import type { JobStatus } from '../../../schemas/job-record.js';

/** Results were asked for a job that has not succeeded (yet, or ever): there is no manifest to trust. */
export class JobNotSucceeded extends Error {
  static readonly code = 'JOB_NOT_SUCCEEDED';
  override readonly name = 'JobNotSucceeded';
  readonly code = JobNotSucceeded.code;

  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
  ) {
    super(`job ${jobId} is ${status}; results exist only once it has succeeded`);
  }
}
