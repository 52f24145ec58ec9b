/**
 * Base of every error the storage layer throws. Callers branch on the subclass (`instanceof`) or on the
 * stable `code`, never on the message; the message always names the URI so a log line alone is enough.
 */
export class StorageError extends Error {
  readonly code: string;
  readonly uri: string;

  constructor(code: string, uri: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.uri = uri;
  }
}
