/** A webhook delivery setting from the environment is unusable; names it so the process stops clearly at start. */
export class InvalidDeliveryConfig extends Error {
  static readonly code = 'WEBHOOK_INVALID_CONFIG';
  override readonly name = 'InvalidDeliveryConfig';
  readonly code = InvalidDeliveryConfig.code;

  constructor(
    /** The variable as the user wrote it, e.g. `QUIVER_WEBHOOK_RETRY_SCHEDULE`. */
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid ${variable}: ${reason}`);
  }
}
