import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The call is for operators: it needs a key with the admin scope (403). */
export class AdminRequired extends QuiverError {
  static readonly code = 'ADMIN_REQUIRED';

  constructor(what: string) {
    super(AdminRequired.code, `${what} needs an API key with the admin scope (tenant:key:admin)`);
  }
}
