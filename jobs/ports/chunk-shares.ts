/**
 * Each tenant's fair share of the workers (`limits.maxRunningChunks` in the tenants file): how many of its
 * chunks may score at once over every worker process. A chunk attempt takes a slot before it begins and
 * gives it back when it ends, whatever the end (committed, failed, stopped); a slot whose worker died
 * comes back by itself once its lease runs out.
 */
export interface ChunkShares {
  /**
   * A slot for this attempt of chunk `index` of `jobId`, or `undefined` when the tenant already runs its
   * share (the chunk should wait without holding a worker). A tenant without a share gets a slot at once,
   * without asking Redis. Taking the same attempt's slot twice holds one slot.
   */
  take(tenant: string, jobId: string, index: number, attempt: string): Promise<ChunkSlot | undefined>;
}

/** One attempt's slot; kept alive (its lease renewed) until released. */
export interface ChunkSlot {
  /** Gives the slot back; safe to call twice, and never throws (a slot not given back expires). */
  release(): Promise<void>;
}
