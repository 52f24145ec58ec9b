import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A URI lies outside the tenant's storage grants (DESIGN invariant 9): refused before anything is read or
 * written. Names the field (or the object, at planning) and the grants by prefix, never a credential.
 */
export class StorageForbidden extends QuiverError {
  static readonly code = 'STORAGE_FORBIDDEN';

  constructor(
    readonly uri: string,
    readonly access: 'read' | 'write',
    readonly grants: readonly string[],
    /** The spec field the URI came from (`input.uri`), when it came from a spec. */
    readonly path?: string,
    reason?: string,
  ) {
    super(
      StorageForbidden.code,
      `${StorageForbidden.code}: ${path ? `${path}: ` : ''}${uri} is outside the tenant's ${access} grants ` +
        `(${grants.length === 0 ? 'none' : grants.join(', ')})${reason ? `: ${reason}` : ''}`,
      { permanent: true, location: { uri, field: path } },
    );
  }
}
