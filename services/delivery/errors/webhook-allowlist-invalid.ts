import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** An entry of the webhook allowlist is neither a hostname nor a CIDR (`10.0.0.0/8`, `fd00::/8`). */
export class WebhookAllowlistInvalid extends QuiverError {
  static readonly code = 'WEBHOOK_ALLOWLIST_INVALID';

  constructor(readonly entry: string) {
    super(
      WebhookAllowlistInvalid.code,
      `${JSON.stringify(entry)} is neither a hostname nor a CIDR (expected e.g. hooks.internal, 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`,
    );
  }
}
