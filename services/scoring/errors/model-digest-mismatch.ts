import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The model's bytes do not hash to the SHA-256 the job pinned: it is refused, never run. */
export class ModelDigestMismatch extends QuiverError {
  static readonly code = 'MODEL_DIGEST_MISMATCH';

  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      ModelDigestMismatch.code,
      `MODEL_DIGEST_MISMATCH: ${uri} has sha256 ${actual}, but the job pins ${expected}`,
      { permanent: true, location: { uri } },
    );
  }
}
