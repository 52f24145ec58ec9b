import { QuiverError } from '../../schemas/errors/quiver-error.js';

/**
 * An input object the job's committed chunks read is no longer the version they read (another etag or
 * size, or gone): a retry would mix two inputs in one output (DESIGN invariant 8), so it is refused (409).
 */
export class RetryInputChanged extends QuiverError {
  static readonly code = 'RETRY_INPUT_CHANGED';

  constructor(
    readonly uri: string,
    readonly reason: string,
  ) {
    super(
      RetryInputChanged.code,
      `${RetryInputChanged.code}: ${uri} ${reason} since the job's chunks read it; submit a new job to score the new input`,
      { location: { uri } },
    );
  }
}
