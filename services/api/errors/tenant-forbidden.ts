import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A key without the admin scope asked for another tenant's listing. Only listings name a tenant, so this
 * reveals nothing about any job; a single job of another tenant is always plain 404.
 */
export class TenantForbidden extends QuiverError {
  static readonly code = 'FORBIDDEN';

  constructor(readonly tenant: string) {
    super(TenantForbidden.code, `listing the jobs of tenant ${tenant.slice(0, 100)} needs an admin key`);
  }
}
