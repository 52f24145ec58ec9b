import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The job has no webhook delivery with this id. */
export class DeliveryNotFound extends QuiverError {
  static readonly code = 'DELIVERY_NOT_FOUND';

  constructor(
    readonly jobId: string,
    readonly deliveryId: string,
  ) {
    super(DeliveryNotFound.code, `job ${jobId} has no delivery ${deliveryId.slice(0, 200)}`);
  }
}
