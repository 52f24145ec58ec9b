import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A listing cursor that no listing handed out (garbled, truncated or made up). */
export class InvalidListCursor extends QuiverError {
  static readonly code = 'INVALID_CURSOR';

  constructor(readonly cursor: string) {
    super(
      InvalidListCursor.code,
      `${InvalidListCursor.code}: ${JSON.stringify(cursor.slice(0, 50))} is not a cursor from a previous page`,
    );
  }
}
