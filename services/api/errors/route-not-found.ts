/** No route answers this method and path. */
export class RouteNotFound extends Error {
  static readonly code = 'ROUTE_NOT_FOUND';
  override readonly name = 'RouteNotFound';
  readonly code = RouteNotFound.code;

  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(`no route ${method} ${path.slice(0, 200)}`);
  }
}
