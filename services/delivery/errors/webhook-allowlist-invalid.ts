/** An entry of the webhook allowlist is neither a hostname nor a CIDR (`10.0.0.0/8`, `fd00::/8`). */
export class WebhookAllowlistInvalid extends Error {
  static readonly code = 'WEBHOOK_ALLOWLIST_INVALID';
  override readonly name = 'WebhookAllowlistInvalid';
  readonly code = WebhookAllowlistInvalid.code;

  constructor(readonly entry: string) {
    super(
      `${JSON.stringify(entry)} is neither a hostname nor a CIDR (expected e.g. hooks.internal, 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`,
    );
  }
}
