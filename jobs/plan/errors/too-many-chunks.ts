import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The input would make more chunks than one job may have (`QUIVER_MAX_CHUNKS_PER_JOB`, default 100,000).
 * Every chunk costs a queue entry, a commit marker and a manifest line, so a job of millions of them (a
 * tiny `chunkRows` over many row groups, or millions of objects) loads Redis and the finalize step for no
 * gain. Permanent: the same spec plans the same chunks; a larger `batch.chunkRows`, or the input split into
 * several jobs, makes fewer.
 */
export class TooManyChunks extends QuiverError {
  static readonly code = 'TOO_MANY_CHUNKS';

  constructor(
    readonly maxChunks: number,
    readonly chunkRows: number,
  ) {
    super(
      TooManyChunks.code,
      `${TooManyChunks.code}: the input plans more than ${maxChunks} chunks at batch.chunkRows ${chunkRows} (QUIVER_MAX_CHUNKS_PER_JOB); raise batch.chunkRows or split the input into several jobs`,
      { permanent: true },
    );
  }
}
