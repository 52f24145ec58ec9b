/** No job record under this id (never created, deleted by retention, or another tenant's). */
export class JobNotFound extends Error {
  static readonly code = 'JOB_NOT_FOUND';
  override readonly name = 'JobNotFound';
  readonly code = JobNotFound.code;

  constructor(readonly jobId: string) {
    super(`${JobNotFound.code}: no job ${jobId}`);
  }
}
