import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The request carries no API key, or one that is not configured. Answered 401 with a `WWW-Authenticate`
 * challenge; the reason never says whether a key exists for some other tenant.
 */
export class Unauthenticated extends QuiverError {
  static readonly code = 'UNAUTHENTICATED';

  constructor(
    /** Whether a key was presented (and refused), which the challenge reports as `invalid_token`. */
    readonly keyPresented: boolean,
  ) {
    super(
      Unauthenticated.code,
      keyPresented
        ? 'the API key is not valid'
        : 'an API key is required: send "Authorization: Bearer <key>"',
    );
  }
}
