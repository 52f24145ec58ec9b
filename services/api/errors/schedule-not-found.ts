import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The tenant has no schedule of this name (another tenant's schedules are never visible). */
export class ScheduleNotFound extends QuiverError {
  static readonly code = 'SCHEDULE_NOT_FOUND';

  constructor(
    readonly tenant: string,
    readonly scheduleName: string,
  ) {
    super(ScheduleNotFound.code, `tenant ${tenant} has no schedule ${scheduleName.slice(0, 200)}`);
  }
}
