import { QuiverError } from '../../schemas/errors/quiver-error.js';

/**
 * The job ran past its spec's `timeoutSeconds`, counted from its start (entering `planning`): its running
 * chunks were stopped and it failed. Committed parts stay, so a retry scores only the rest.
 */
export class JobTimeout extends QuiverError {
  static readonly code = 'JOB_TIMEOUT';

  constructor(
    readonly jobId: string,
    readonly timeoutSeconds: number,
  ) {
    super(
      JobTimeout.code,
      `${JobTimeout.code}: job ${jobId} did not finish within its timeoutSeconds (${timeoutSeconds}s from its start); retry it to score the chunks not yet committed`,
      { permanent: true },
    );
  }
}
