import { QuiverError } from '../../schemas/errors/quiver-error.js';
import type { JobStatus } from '../../schemas/job-record.js';

/** A job was asked to move between two states the lifecycle does not connect (e.g. `succeeded → running`). */
export class InvalidJobTransition extends QuiverError {
  static readonly code = 'JOB_INVALID_TRANSITION';

  constructor(
    readonly from: JobStatus,
    readonly to: JobStatus,
    readonly jobId?: string,
  ) {
    super(
      InvalidJobTransition.code,
      `${InvalidJobTransition.code}: ${jobId ? `job ${jobId} ` : ''}cannot move from ${from} to ${to}`,
    );
  }
}
