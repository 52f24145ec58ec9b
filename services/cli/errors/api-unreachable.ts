import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * No answer from the API: the connection was refused or reset, the host did not resolve, or it did not
 * answer within the timeout. Nothing is known about whether a request that was sent took effect.
 */
export class ApiUnreachable extends QuiverError {
  static readonly code = 'API_UNREACHABLE';

  constructor(
    readonly baseUrl: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      ApiUnreachable.code,
      `${ApiUnreachable.code}: cannot reach the Quiver API at ${baseUrl} (is \`quiver api\` running? set QUIVER_API_URL or --api-url): ${reason}`,
      options,
    );
  }
}
