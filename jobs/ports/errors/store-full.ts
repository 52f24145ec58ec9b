/**
 * Redis refused a write because it reached its `maxmemory` (its `OOM` error reply under the `noeviction`
 * policy Quiver runs it with). Nothing stored is lost, but nothing new is stored until memory is freed: the
 * API answers 503 `STORE_FULL`, and workers retry the chunk like any other transient failure.
 */
export class StoreFull extends Error {
  static readonly code = 'STORE_FULL';
  override readonly name = 'StoreFull';
  readonly code = StoreFull.code;

  constructor(options?: ErrorOptions) {
    super(`${StoreFull.code}: Redis is at its maxmemory and refuses writes; retry later`, options);
  }
}
