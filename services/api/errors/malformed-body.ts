/** The body could not be parsed in its declared content type (broken YAML; broken JSON is Fastify's own). */
export class MalformedBody extends Error {
  static readonly code = 'MALFORMED_BODY';
  override readonly name = 'MalformedBody';
  readonly code = MalformedBody.code;

  constructor(contentType: string, reason: string) {
    super(`the body is not valid ${contentType}: ${reason.split('\n')[0] ?? reason}`);
  }
}
