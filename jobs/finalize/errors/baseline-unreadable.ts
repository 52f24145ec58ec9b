import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The job's `quality.baseline` names a report that cannot be read as one (missing, not JSON, not a Quiver
 * run report). Permanent: the spec points at it; a retry reads the same object.
 */
export class BaselineUnreadable extends QuiverError {
  static readonly code = 'QUALITY_BASELINE_UNREADABLE';

  constructor(
    readonly uri: string,
    reason: string,
    cause?: unknown,
  ) {
    super(BaselineUnreadable.code, `QUALITY_BASELINE_UNREADABLE: ${uri}: ${reason}`, {
      permanent: true,
      location: { uri, field: 'quality.baseline' },
      cause,
    });
  }
}
