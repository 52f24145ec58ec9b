/** `create` was given an explicit id that another job already holds. */
export class JobAlreadyExists extends Error {
  static readonly code = 'JOB_ALREADY_EXISTS';
  override readonly name = 'JobAlreadyExists';
  readonly code = JobAlreadyExists.code;

  constructor(readonly jobId: string) {
    super(`${JobAlreadyExists.code}: a job with id ${jobId} already exists`);
  }
}
