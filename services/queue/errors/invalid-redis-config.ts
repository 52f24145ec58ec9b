/** Redis settings from the environment are unusable; names the variable so the process stops clearly. */
export class InvalidRedisConfig extends Error {
  static readonly code = 'REDIS_INVALID_CONFIG';
  override readonly name = 'InvalidRedisConfig';
  readonly code = InvalidRedisConfig.code;

  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid ${variable}: ${reason}`);
  }
}
