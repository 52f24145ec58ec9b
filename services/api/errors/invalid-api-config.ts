/** An API setting from the environment, a flag or the keys file is unusable; names it so the process stops clearly at start. */
export class InvalidApiConfig extends Error {
  static readonly code = 'API_INVALID_CONFIG';
  override readonly name = 'InvalidApiConfig';
  readonly code = InvalidApiConfig.code;

  constructor(
    /** The variable or flag as the user wrote it, e.g. `QUIVER_API_PORT` or `--port`. */
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid ${variable}: ${reason}`);
  }
}
