/** The input URI (and glob) matched no object of the job's format. Permanent: the job fails at planning. */
export class EmptyInputError extends Error {
  static readonly code = 'INPUT_EMPTY';
  override readonly name = 'EmptyInputError';
  readonly code = EmptyInputError.code;

  constructor(
    readonly uri: string,
    readonly glob: string | undefined,
    detail: string,
  ) {
    super(`INPUT_EMPTY: ${detail} under ${uri}${glob ? ` matching "${glob}"` : ''}`);
  }
}
