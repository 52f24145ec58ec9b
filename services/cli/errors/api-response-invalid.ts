import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The API answered 2xx with a body that is not what the contract says: usually `--api-url` points at
 * something other than a Quiver API, or the API runs another version.
 */
export class ApiResponseInvalid extends QuiverError {
  static readonly code = 'API_RESPONSE_INVALID';

  constructor(
    readonly url: string,
    detail: string,
  ) {
    super(ApiResponseInvalid.code, `${ApiResponseInvalid.code}: unexpected answer from ${url}: ${detail}`);
  }
}
