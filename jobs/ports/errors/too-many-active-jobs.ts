/**
 * The tenant already has its maximum of active (not yet succeeded, failed or cancelled) jobs; the job was
 * not created. The API answers 429 so the client retries once some finish.
 */
export class TooManyActiveJobs extends Error {
  static readonly code = 'TOO_MANY_ACTIVE_JOBS';
  override readonly name = 'TooManyActiveJobs';
  readonly code = TooManyActiveJobs.code;

  constructor(
    readonly tenant: string,
    readonly limit: number,
  ) {
    super(`${TooManyActiveJobs.code}: tenant ${tenant} already has ${limit} active jobs (the maximum)`);
  }
}
