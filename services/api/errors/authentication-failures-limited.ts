/**
 * A client sent more requests with a missing or unknown API key than the window allows; answered 429
 * `RATE_LIMITED` with Retry-After (instead of 401) until the window resets. Requests with a valid key are
 * never counted or refused by it.
 */
export class AuthenticationFailuresLimited extends Error {
  static readonly code = 'RATE_LIMITED';
  override readonly name = 'AuthenticationFailuresLimited';
  readonly code = AuthenticationFailuresLimited.code;

  constructor(
    readonly client: string,
    /** Seconds until the window resets (at least 1). */
    readonly retryAfterSeconds: number,
  ) {
    super(`too many requests without a valid API key from ${client}; retry in ${retryAfterSeconds} s`);
  }
}
