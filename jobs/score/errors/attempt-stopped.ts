import type { AttemptState } from '../../../services/queue/job-store.js';

/**
 * An attempt of a chunk may not go on: another attempt took the chunk over (its lock was lost, e.g. a
 * frozen worker), the chunk is already committed, or the job left `running`. The attempt writes nothing
 * more and nothing it wrote is referenced (DESIGN invariant 7). Not a failure of the job.
 */
export class AttemptStopped extends Error {
  static readonly code = 'ATTEMPT_STOPPED';
  override readonly name = 'AttemptStopped';
  readonly code = AttemptStopped.code;

  constructor(
    readonly jobId: string,
    readonly chunk: number,
    readonly state: Exclude<AttemptState, 'current'>,
  ) {
    super(`${AttemptStopped.code}: attempt of chunk ${chunk} of job ${jobId} stopped (${state})`);
  }
}
