import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** No route answers this method and path. */
export class RouteNotFound extends QuiverError {
  static readonly code = 'ROUTE_NOT_FOUND';

  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(RouteNotFound.code, `no route ${method} ${path.slice(0, 200)}`);
  }
}
