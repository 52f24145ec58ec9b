import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A budget of requests is spent for the current window: a tenant's, or a client address's budget of
 * requests without a valid API key. Answered 429 with Retry-After.
 */
export class RateLimited extends QuiverError {
  static readonly code = 'RATE_LIMITED';

  constructor(
    /** Whose budget: `tenant acme`, `client 203.0.113.7 (no valid API key)`. */
    readonly budget: string,
    /** Seconds until the window resets (at least 1). */
    readonly retryAfterSeconds: number,
  ) {
    super(RateLimited.code, `too many requests for ${budget}; retry in ${retryAfterSeconds} s`);
  }
}
