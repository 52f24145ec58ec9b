import { QuiverError } from './quiver-error.js';

/**
 * A `QUIVER_*` variable, a flag or a file one names holds a value the process cannot use. The message names
 * the variable (or flag) and the reason, never the value of a secret. Permanent: the process stops at start.
 */
export class InvalidConfig extends QuiverError {
  static readonly code = 'CONFIG_INVALID';

  constructor(
    /** The variable or flag as the user wrote it, e.g. `QUIVER_SHUTDOWN_GRACE_SECONDS` or `--grace-seconds`. */
    readonly variable: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(InvalidConfig.code, `Invalid ${variable}: ${reason}`, { permanent: true, ...options });
  }
}
