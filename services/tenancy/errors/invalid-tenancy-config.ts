/** The tenants file or the grants mode is unusable; the process stops at start naming the variable. */
export class InvalidTenancyConfig extends Error {
  static readonly code = 'TENANCY_INVALID_CONFIG';
  override readonly name = 'InvalidTenancyConfig';
  readonly code = InvalidTenancyConfig.code;

  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid ${variable}: ${detail}`);
  }
}
