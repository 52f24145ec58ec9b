import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A job spec file could not be read or is not JSON/YAML (the spec's fields are checked afterwards). */
export class SpecFileInvalid extends QuiverError {
  static readonly code = 'SPEC_FILE_INVALID';

  constructor(
    readonly path: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(SpecFileInvalid.code, `${SpecFileInvalid.code}: ${path}: ${detail}`, {
      ...options,
      location: { uri: path },
    });
  }
}
