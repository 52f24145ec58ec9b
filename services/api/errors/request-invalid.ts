import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** One problem with a request: the field path (`webhook.url`, `query.limit`, `(root)`) and what is wrong. */
export interface RequestProblem {
  path: string;
  message: string;
}

/** The request's body, query, path parameters or headers failed validation; every problem has its path. */
export class RequestInvalid extends QuiverError {
  static readonly code = 'REQUEST_INVALID';

  constructor(readonly problems: readonly RequestProblem[]) {
    super(
      RequestInvalid.code,
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in the request: ` +
        problems
          .slice(0, 5)
          .map((p) => `${p.path}: ${p.message}`)
          .join('; '),
    );
  }
}
