/**
 * The API answered 2xx with a body that is not what the contract says: usually `--api-url` points at
 * something other than a Quiver API, or the API runs another version.
 */
export class ApiResponseInvalid extends Error {
  static readonly code = 'API_RESPONSE_INVALID';
  override readonly name = 'ApiResponseInvalid';
  readonly code = ApiResponseInvalid.code;

  constructor(
    readonly url: string,
    detail: string,
  ) {
    super(`${ApiResponseInvalid.code}: unexpected answer from ${url}: ${detail}`);
  }
}
