import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The model object is larger than a worker may fetch (`QUIVER_MAX_MODEL_BYTES`, default 2 GiB): it would be
 * read whole into memory and then into a session. Refused from its size alone, before any byte is read.
 * Permanent for the job: retrying finds the same object.
 */
export class ModelTooLarge extends QuiverError {
  static readonly code = 'MODEL_TOO_LARGE';

  constructor(
    readonly uri: string,
    readonly bytes: number,
    readonly maxModelBytes: number,
  ) {
    super(
      ModelTooLarge.code,
      `${ModelTooLarge.code}: ${uri} is ${bytes} bytes, over the ${maxModelBytes}-byte limit (QUIVER_MAX_MODEL_BYTES)`,
      { permanent: true, location: { uri } },
    );
  }
}
