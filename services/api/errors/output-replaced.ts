import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * Results were asked for a succeeded `exact`-layout job whose location a later job has written since: the
 * manifest there is that job's, and this job's parts are gone. Its results are the later job's.
 */
export class OutputReplaced extends QuiverError {
  static readonly code = 'OUTPUT_REPLACED';

  constructor(
    readonly jobId: string,
    readonly replacedBy: string,
    readonly manifestUri: string,
  ) {
    super(
      OutputReplaced.code,
      `${OutputReplaced.code}: the output of job ${jobId} at ${manifestUri} has been replaced by job ${replacedBy}'s`,
    );
  }
}
