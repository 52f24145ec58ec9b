import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A dependency the API needs to serve requests (Redis) does not answer; `/readyz` reports 503. */
export class NotReady extends QuiverError {
  static readonly code = 'NOT_READY';

  constructor(reason: string, options?: ErrorOptions) {
    super(NotReady.code, `not ready: ${reason}`, options);
  }
}
