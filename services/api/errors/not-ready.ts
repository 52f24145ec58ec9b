/** A dependency the API needs to serve requests (Redis) does not answer; `/readyz` reports 503. */
export class NotReady extends Error {
  static readonly code = 'NOT_READY';
  override readonly name = 'NotReady';
  readonly code = NotReady.code;

  constructor(reason: string, options?: ErrorOptions) {
    super(`not ready: ${reason}`, options);
  }
}
