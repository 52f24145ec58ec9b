/** The command line is wrong: an unknown flag, a missing argument, a value that does not parse. Exit 2. */
export class UsageError extends Error {
  static readonly code = 'USAGE';
  override readonly name = 'UsageError';
  readonly code = UsageError.code;

  constructor(message: string) {
    super(message);
  }
}
