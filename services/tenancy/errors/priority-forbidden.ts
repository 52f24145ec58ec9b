import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A spec asks for a priority more urgent than its tenant's `limits.maxPriority` (1 = most urgent): refused
 * at submission, nothing recorded. The default priority (5) counts as asked for: a tenant limited to a
 * less urgent level names its priority in every spec.
 */
export class PriorityForbidden extends QuiverError {
  static readonly code = 'PRIORITY_FORBIDDEN';

  constructor(
    readonly priority: number,
    readonly maxPriority: number,
    /** The spec field at fault. */
    readonly path = 'priority',
  ) {
    super(
      PriorityForbidden.code,
      `${PriorityForbidden.code}: ${path}: ${priority} is more urgent than the tenant may ask for ` +
        `(${maxPriority} to 10; 1 is the most urgent)`,
      { permanent: true, location: { field: path } },
    );
  }
}
