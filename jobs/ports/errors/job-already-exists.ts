import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** `create` was given an explicit id that another job already holds. */
export class JobAlreadyExists extends QuiverError {
  static readonly code = 'JOB_ALREADY_EXISTS';

  constructor(readonly jobId: string) {
    super(JobAlreadyExists.code, `${JobAlreadyExists.code}: a job with id ${jobId} already exists`);
  }
}
