import { QuiverError } from '../../../schemas/errors/quiver-error.js';
import type { ApiError } from '../../../schemas/api.js';

/** One problem the API found in a request body: where (field path) and what. */
export type ApiProblem = NonNullable<ApiError['error']['problems']>[number];

/**
 * The Quiver API answered with an error. `code` is the API's own stable code (`JOB_NOT_FOUND`,
 * `JOB_SPEC_INVALID`, `UNAUTHORIZED`, …), or `HTTP_<status>` when the body was not an API error; `status` is
 * the HTTP status; `problems` carries every field path of a validation error.
 */
export class ApiRequestError extends QuiverError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly problems: readonly ApiProblem[] = [],
  ) {
    super(
      code,
      `${code}: ${message}` +
        problems.map((p) => `\n  ${p.path}: ${p.message}`).join('') +
        (status === 401 ? '\n  (set QUIVER_API_KEY or pass --api-key with a key the API accepts)' : ''),
    );
  }
}
