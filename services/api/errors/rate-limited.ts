/** The tenant made more requests than its rate allows in the current window; answered 429 with Retry-After. */
export class RateLimited extends Error {
  static readonly code = 'RATE_LIMITED';
  override readonly name = 'RateLimited';
  readonly code = RateLimited.code;

  constructor(
    readonly tenant: string,
    /** Seconds until the window resets (at least 1). */
    readonly retryAfterSeconds: number,
  ) {
    super(`too many requests for tenant ${tenant}; retry in ${retryAfterSeconds} s`);
  }
}
