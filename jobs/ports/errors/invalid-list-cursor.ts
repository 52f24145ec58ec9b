/** A listing cursor that no listing handed out (garbled, truncated or made up). */
export class InvalidListCursor extends Error {
  static readonly code = 'INVALID_CURSOR';
  override readonly name = 'InvalidListCursor';
  readonly code = InvalidListCursor.code;

  constructor(readonly cursor: string) {
    super(
      `${InvalidListCursor.code}: ${JSON.stringify(cursor.slice(0, 50))} is not a cursor from a previous page`,
    );
  }
}
