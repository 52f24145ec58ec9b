/** A job spec file could not be read or is not JSON/YAML (the spec's fields are checked afterwards). */
export class SpecFileInvalid extends Error {
  static readonly code = 'SPEC_FILE_INVALID';
  override readonly name = 'SpecFileInvalid';
  readonly code = SpecFileInvalid.code;

  constructor(
    readonly path: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${SpecFileInvalid.code}: ${path}: ${detail}`, options);
  }
}
