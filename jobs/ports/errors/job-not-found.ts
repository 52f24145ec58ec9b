import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** No job record under this id (never created, deleted by retention, or another tenant's). */
export class JobNotFound extends QuiverError {
  static readonly code = 'JOB_NOT_FOUND';

  constructor(readonly jobId: string) {
    super(JobNotFound.code, `${JobNotFound.code}: no job ${jobId}`);
  }
}
