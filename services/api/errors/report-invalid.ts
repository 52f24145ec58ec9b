import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The object at a job's report location is not a run report (`runReportSchema`): not JSON, or not the
 * shape. A 500: the report is Quiver's own file, so its being wrong is ours to fix, not the caller's; the
 * message names the object so whoever reads the log or the reply knows which one to look at.
 */
export class ReportInvalid extends QuiverError {
  static readonly code = 'REPORT_INVALID';

  constructor(
    readonly jobId: string,
    readonly reportUri: string,
    reason: string,
    cause?: unknown,
  ) {
    super(
      ReportInvalid.code,
      `${ReportInvalid.code}: the report of job ${jobId} at ${reportUri} does not parse: ${reason}`,
      { location: { uri: reportUri }, cause },
    );
  }
}
