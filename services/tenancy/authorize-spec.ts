import type { JobSpec } from '../../schemas/job-spec.js';
import { OutputOverlapsInput } from './errors/output-overlaps-input.js';
import { PriorityForbidden } from './errors/priority-forbidden.js';
import type { GrantChecker } from './storage-grants.js';
import { type Tenancy, grantCheckerFor } from './tenancy.js';

/** A folder form for overlap checks: `s3://b/in` and `s3://b/in/` are the same prefix. */
const asFolder = (uri: string): string => (uri.endsWith('/') ? uri : `${uri}/`);

/**
 * Checks every URI a job spec names against the tenant's grants — `input.uri` and `model.uri` to read,
 * `output.uri` to write — and that the output cannot be read back as input (`OUTPUT_OVERLAPS_INPUT`).
 * Throws `StorageForbidden` naming the field; nothing is read or written here.
 */
export async function authorizeSpec(spec: JobSpec, grants: GrantChecker): Promise<void> {
  const input = await grants.check(spec.input.uri, 'read', 'input.uri');
  await grants.check(spec.model.uri, 'read', 'model.uri');
  const output = await grants.check(spec.output.uri, 'write', 'output.uri');
  if (asFolder(output).startsWith(asFolder(input)) || asFolder(input).startsWith(asFolder(output)))
    throw new OutputOverlapsInput(spec.output.uri, spec.input.uri);
}

/** Refuses a spec more urgent than the tenant's `limits.maxPriority` (`PRIORITY_FORBIDDEN` on `priority`). */
export function authorizePriority(spec: JobSpec, maxPriority: number | undefined): void {
  if (maxPriority !== undefined && spec.priority < maxPriority)
    throw new PriorityForbidden(spec.priority, maxPriority);
}

/**
 * `authorizeSpec` against each tenant's grants, and its priority limit: what `submitJob` takes as
 * `authorize` (the API's jobs and schedules, and the scheduler's runs).
 */
export function specAuthorizer(tenancy: Tenancy): (spec: JobSpec, tenant: string) => Promise<void> {
  return async (spec, tenant) => {
    authorizePriority(spec, tenancy.maxPriorityFor(tenant));
    await authorizeSpec(spec, grantCheckerFor(tenancy, tenant));
  };
}
