/** The job has no webhook delivery with this id. */
export class DeliveryNotFound extends Error {
  static readonly code = 'DELIVERY_NOT_FOUND';
  override readonly name = 'DeliveryNotFound';
  readonly code = DeliveryNotFound.code;

  constructor(
    readonly jobId: string,
    readonly deliveryId: string,
  ) {
    super(`job ${jobId} has no delivery ${deliveryId.slice(0, 200)}`);
  }
}
