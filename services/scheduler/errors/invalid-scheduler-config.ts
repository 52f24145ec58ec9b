/** A scheduler setting from the environment or a flag is unusable; names it so the process stops at start. */
export class InvalidSchedulerConfig extends Error {
  static readonly code = 'SCHEDULER_INVALID_CONFIG';
  override readonly name = 'InvalidSchedulerConfig';
  readonly code = InvalidSchedulerConfig.code;

  constructor(
    /** The variable or flag as the user wrote it: `QUIVER_SHUTDOWN_GRACE_SECONDS` or `--grace-seconds`. */
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid ${variable}: ${reason}`);
  }
}
