/**
 * Where an error happened, in the one shape every error uses: the object, the row in it (0-based), the
 * byte offset, the column or the spec field at fault. The job record's `error` carries the same fields.
 */
export interface ErrorLocation {
  uri?: string;
  row?: number;
  byteOffset?: number;
  column?: string;
  field?: string;
}

export interface QuiverErrorOptions {
  /** Retrying cannot fix it (bad data, bad mapping, bad model, a refused grant): the job fails at once. */
  permanent?: boolean;
  location?: ErrorLocation;
  cause?: unknown;
}

/**
 * The base of every error Quiver raises. Callers branch on the class (`instanceof`) or on the stable
 * `code`, never on the message; `permanent` says whether a retry can help; `location` says where.
 */
export class QuiverError extends Error {
  readonly code: string;
  readonly permanent: boolean;
  /** Not readonly: a caller that knows more of the place (the chunk's object and row) may add to it. */
  location: ErrorLocation;

  constructor(code: string, message: string, options: QuiverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.permanent = options.permanent ?? false;
    this.location = options.location ?? {};
  }
}

/** Whether retrying cannot fix `error`: only a {@link QuiverError} that says so. */
export function isPermanent(error: unknown): boolean {
  return error instanceof QuiverError && error.permanent;
}
