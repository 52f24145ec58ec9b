/** The tenant has no schedule of this name (another tenant's schedules are never visible). */
export class ScheduleNotFound extends Error {
  static readonly code = 'SCHEDULE_NOT_FOUND';
  override readonly name = 'ScheduleNotFound';
  readonly code = ScheduleNotFound.code;

  constructor(
    readonly tenant: string,
    readonly scheduleName: string,
  ) {
    super(`tenant ${tenant} has no schedule ${scheduleName.slice(0, 200)}`);
  }
}
