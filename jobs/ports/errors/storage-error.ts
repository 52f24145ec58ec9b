import { QuiverError } from '../../../schemas/errors/quiver-error.js';

export interface StorageErrorOptions {
  cause?: unknown;
  /** Retrying finds the same answer (a missing object, a refused grant): set by each subclass for its code. */
  permanent?: boolean;
}

/**
 * Base of every error the storage layer throws. Callers branch on the subclass (`instanceof`) or on the
 * stable `code`, never on the message; the message always names the URI so a log line alone is enough, and
 * `location.uri` carries it for the job record.
 */
export class StorageError extends QuiverError {
  readonly uri: string;

  constructor(code: string, uri: string, message: string, options: StorageErrorOptions = {}) {
    super(code, message, { ...options, location: { uri } });
    this.uri = uri;
  }
}
