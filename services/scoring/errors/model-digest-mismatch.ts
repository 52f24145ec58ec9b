/** The model's bytes do not hash to the SHA-256 the job pinned: it is refused, never run. */
export class ModelDigestMismatch extends Error {
  static readonly code = 'MODEL_DIGEST_MISMATCH';
  override readonly name = 'ModelDigestMismatch';
  readonly code = ModelDigestMismatch.code;

  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`MODEL_DIGEST_MISMATCH: ${uri} has sha256 ${actual}, but the job pins ${expected}`);
  }
}
