import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The tenant already has its maximum of active (not yet succeeded, failed or cancelled) jobs; the job was
 * not created. The API answers 429 so the client retries once some finish.
 */
export class TooManyActiveJobs extends QuiverError {
  static readonly code = 'TOO_MANY_ACTIVE_JOBS';

  constructor(
    readonly tenant: string,
    readonly limit: number,
  ) {
    super(
      TooManyActiveJobs.code,
      `${TooManyActiveJobs.code}: tenant ${tenant} already has ${limit} active jobs (the maximum)`,
    );
  }
}
