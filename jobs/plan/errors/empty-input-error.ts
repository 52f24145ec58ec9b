import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The input URI (and glob) matched no object of the job's format. Permanent: the job fails at planning. */
export class EmptyInputError extends QuiverError {
  static readonly code = 'INPUT_EMPTY';

  constructor(
    readonly uri: string,
    readonly glob: string | undefined,
    detail: string,
  ) {
    super(EmptyInputError.code, `INPUT_EMPTY: ${detail} under ${uri}${glob ? ` matching "${glob}"` : ''}`, {
      permanent: true,
      location: { uri },
    });
  }
}
