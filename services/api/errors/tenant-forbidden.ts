/**
 * A key without the admin scope asked for another tenant's listing. Only listings name a tenant, so this
 * reveals nothing about any job; a single job of another tenant is always plain 404.
 */
export class TenantForbidden extends Error {
  static readonly code = 'FORBIDDEN';
  override readonly name = 'TenantForbidden';
  readonly code = TenantForbidden.code;

  constructor(readonly tenant: string) {
    super(`listing the jobs of tenant ${tenant.slice(0, 100)} needs an admin key`);
  }
}
