import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The chunk's tenant already runs its share of chunks (`limits.maxRunningChunks`): this chunk waits and
 * is taken again later. Not a failure and not an attempt: nothing was begun, written or counted.
 */
export class ChunkDeferred extends QuiverError {
  static readonly code = 'CHUNK_DEFERRED';

  constructor(
    readonly tenant: string,
    readonly jobId: string,
    readonly chunk: number,
  ) {
    super(
      ChunkDeferred.code,
      `${ChunkDeferred.code}: tenant ${tenant} runs its share of chunks; chunk ${chunk} of job ${jobId} waits`,
    );
  }
}
