import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** Some chunks have no accepted commit yet; the finalize job retries (transient: they are still running). */
export class CommitsIncomplete extends QuiverError {
  static readonly code = 'COMMITS_INCOMPLETE';

  constructor(message: string) {
    super(CommitsIncomplete.code, message);
  }
}
