import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A chunk that stopped moving; transient, so the chunk is retried. */
export class ChunkStalled extends QuiverError {
  static readonly code = 'CHUNK_STALLED';

  constructor(message: string) {
    super(ChunkStalled.code, message);
  }
}
