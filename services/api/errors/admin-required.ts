/** The call is for operators: it needs a key with the admin scope (403). */
export class AdminRequired extends Error {
  static readonly code = 'ADMIN_REQUIRED';
  override readonly name = 'AdminRequired';
  readonly code = AdminRequired.code;

  constructor(what: string) {
    super(`${what} needs an API key with the admin scope (tenant:key:admin)`);
  }
}
