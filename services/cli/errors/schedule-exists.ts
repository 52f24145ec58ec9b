import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * `quiver schedule create` found a schedule of that name already (the API's POST would replace it): exit 1,
 * as for any conflict. `quiver schedule replace` is the way to change it.
 */
export class ScheduleExists extends QuiverError {
  static readonly code = 'SCHEDULE_EXISTS';

  constructor(readonly scheduleName: string) {
    super(
      ScheduleExists.code,
      `${ScheduleExists.code}: schedule ${JSON.stringify(scheduleName)} already exists; use "quiver schedule replace" to change it`,
    );
  }
}
