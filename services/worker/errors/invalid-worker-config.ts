/** A worker setting from the environment or a flag is unusable; names it so the process stops clearly at start. */
export class InvalidWorkerConfig extends Error {
  static readonly code = 'WORKER_INVALID_CONFIG';
  override readonly name = 'InvalidWorkerConfig';
  readonly code = InvalidWorkerConfig.code;

  constructor(
    /** The variable or flag as the user wrote it, e.g. `QUIVER_SHUTDOWN_GRACE_SECONDS` or `--grace-seconds`. */
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid ${variable}: ${reason}`);
  }
}
