import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A webhook retry schedule that does not parse: its entries must be durations like `5s`, `30m`, `2h`. */
export class RetryScheduleInvalid extends QuiverError {
  static readonly code = 'WEBHOOK_RETRY_SCHEDULE_INVALID';

  constructor(
    readonly schedule: string,
    reason: string,
  ) {
    super(
      RetryScheduleInvalid.code,
      `${reason} in ${JSON.stringify(schedule)} (expected durations such as 5s,5m,30m,2h)`,
    );
  }
}
