import type { JobStatus } from '../../schemas/job-record.js';

/** A job was asked to move between two states the lifecycle does not connect (e.g. `succeeded → running`). */
export class InvalidJobTransition extends Error {
  static readonly code = 'JOB_INVALID_TRANSITION';
  override readonly name = 'InvalidJobTransition';
  readonly code = InvalidJobTransition.code;

  constructor(
    readonly from: JobStatus,
    readonly to: JobStatus,
    readonly jobId?: string,
  ) {
    super(`${InvalidJobTransition.code}: ${jobId ? `job ${jobId} ` : ''}cannot move from ${from} to ${to}`);
  }
}
