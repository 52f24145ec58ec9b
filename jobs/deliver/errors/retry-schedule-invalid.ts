/** A webhook retry schedule that does not parse: its entries must be durations like `5s`, `30m`, `2h`. */
export class RetryScheduleInvalid extends Error {
  static readonly code = 'WEBHOOK_RETRY_SCHEDULE_INVALID';
  override readonly name = 'RetryScheduleInvalid';
  readonly code = RetryScheduleInvalid.code;

  constructor(
    readonly schedule: string,
    reason: string,
  ) {
    super(`${reason} in ${JSON.stringify(schedule)} (expected durations such as 5s,5m,30m,2h)`);
  }
}
