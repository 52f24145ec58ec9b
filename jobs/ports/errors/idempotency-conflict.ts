import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * An idempotency key was reused with a different job spec. The first job stands; the API answers 409 and
 * names it so the client can fetch it or pick a new key.
 */
export class IdempotencyConflict extends QuiverError {
  static readonly code = 'IDEMPOTENCY_CONFLICT';

  constructor(
    readonly idempotencyKey: string,
    readonly existingJobId: string,
  ) {
    super(
      IdempotencyConflict.code,
      `${IdempotencyConflict.code}: idempotency key ${JSON.stringify(idempotencyKey)} was already used for ` +
        `job ${existingJobId} with a different spec`,
    );
  }
}
