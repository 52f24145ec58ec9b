import { QuiverError } from '../../../schemas/errors/quiver-error.js';
import type { AttemptState } from '../../ports/job-store.js';

/**
 * An attempt of a chunk may not go on: another attempt took the chunk over (its lock was lost, e.g. a
 * frozen worker), the chunk is already committed, or the job left `running`. The attempt writes nothing
 * more and nothing it wrote is referenced (DESIGN invariant 7). Not a failure of the job.
 */
export class AttemptStopped extends QuiverError {
  static readonly code = 'ATTEMPT_STOPPED';

  constructor(
    readonly jobId: string,
    readonly chunk: number,
    readonly state: Exclude<AttemptState, 'current'>,
  ) {
    super(
      AttemptStopped.code,
      `${AttemptStopped.code}: attempt of chunk ${chunk} of job ${jobId} stopped (${state})`,
    );
  }
}
