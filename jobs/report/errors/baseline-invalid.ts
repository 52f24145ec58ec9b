import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The baseline report's histogram for a column cannot re-bin this run's counts exactly: an edge that is not
 * a bucket edge at this run's mantissa bits (a hand-made or foreign baseline), or edges out of order. The
 * job's quality block points at it, so retrying reads the same report: permanent.
 */
export class BaselineInvalid extends QuiverError {
  static readonly code = 'QUALITY_BASELINE_INVALID';

  constructor(
    readonly column: string,
    readonly edge: number,
    reason: string,
  ) {
    super(BaselineInvalid.code, `QUALITY_BASELINE_INVALID: column "${column}" edge ${edge}: ${reason}`, {
      permanent: true,
      location: { column },
    });
  }
}
