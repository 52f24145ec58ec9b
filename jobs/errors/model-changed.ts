import { QuiverError } from '../../schemas/errors/quiver-error.js';

/**
 * The model URI no longer serves the bytes the job's planning resolved (the object was replaced): the chunk
 * cannot score with the job's one model (DESIGN invariant 8), and a cached copy does not stand in for the
 * URI (invariant 9), so the job fails rather than mixing two models.
 */
export class ModelChanged extends QuiverError {
  static readonly code = 'MODEL_CHANGED';

  constructor(
    readonly uri: string,
    readonly planned: string,
    readonly found: string,
  ) {
    super(
      ModelChanged.code,
      `MODEL_CHANGED: ${uri} now has sha256 ${found}, but the job was planned with ${planned}; resubmit it to score with the new model`,
      { permanent: true, location: { uri } },
    );
  }
}
