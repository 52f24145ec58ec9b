import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The command line is wrong: an unknown flag, a missing argument, a value that does not parse. Exit 2. */
export class UsageError extends QuiverError {
  static readonly code = 'USAGE';

  constructor(message: string) {
    super(UsageError.code, message);
  }
}
