import { QuiverError } from '../../schemas/errors/quiver-error.js';

/** More rows were refused than the job's `maxInvalidFraction` allows: it fails, with no `_SUCCESS`. */
export class RowsRejectedOverLimit extends QuiverError {
  static readonly code = 'ROWS_REJECTED_OVER_LIMIT';

  constructor(
    readonly rejected: number,
    readonly inputRows: number,
    readonly maxInvalidFraction: number,
    /** The job's `rejected/` folder, where the refused rows and their reasons are. */
    readonly uri: string,
  ) {
    super(
      RowsRejectedOverLimit.code,
      `${RowsRejectedOverLimit.code}: ${rejected} of ${inputRows} rows were refused (${((100 * rejected) / Math.max(1, inputRows)).toFixed(2)}%), over maxInvalidFraction ${maxInvalidFraction}; see ${uri}`,
      { permanent: true, location: { uri } },
    );
  }
}
