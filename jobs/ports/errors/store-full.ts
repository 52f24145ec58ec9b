import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * Redis refused a write because it reached its `maxmemory` (its `OOM` error reply under the `noeviction`
 * policy Quiver runs it with). Nothing stored is lost, but nothing new is stored until memory is freed: the
 * API answers 503 `STORE_FULL`, and workers retry the chunk like any other transient failure.
 */
export class StoreFull extends QuiverError {
  static readonly code = 'STORE_FULL';

  constructor(options?: ErrorOptions) {
    super(
      StoreFull.code,
      `${StoreFull.code}: Redis is at its maxmemory and refuses writes; retry later`,
      options,
    );
  }
}
