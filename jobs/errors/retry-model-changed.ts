import { QuiverError } from '../../schemas/errors/quiver-error.js';

/**
 * The model URI no longer serves the bytes the job was planned with: a retry would score the rest with
 * another model (DESIGN invariant 8), so it is refused (409).
 */
export class RetryModelChanged extends QuiverError {
  static readonly code = 'RETRY_MODEL_CHANGED';

  constructor(
    readonly uri: string,
    readonly planned: string,
    readonly found: string,
  ) {
    super(
      RetryModelChanged.code,
      `${RetryModelChanged.code}: ${uri} now ${found === 'missing' ? 'serves nothing' : `has sha256 ${found}`}, but the job was planned with ${planned}; submit a new job to score with the new model`,
      { location: { uri } },
    );
  }
}
