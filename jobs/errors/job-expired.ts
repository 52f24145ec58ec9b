import { QuiverError } from '../../schemas/errors/quiver-error.js';

/**
 * The job was still `queued` when its spec's `expiresAfterSeconds` (counted from its submission or its
 * retry) ran out: it ends `expired` without having planned or scored anything.
 */
export class JobExpired extends QuiverError {
  static readonly code = 'JOB_EXPIRED';

  constructor(
    readonly jobId: string,
    readonly expiresAfterSeconds: number,
  ) {
    super(
      JobExpired.code,
      `${JobExpired.code}: job ${jobId} was not started within its expiresAfterSeconds (${expiresAfterSeconds}s)`,
      { permanent: true },
    );
  }
}
