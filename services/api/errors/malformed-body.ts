import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** The body could not be parsed in its declared content type (broken YAML; broken JSON is Fastify's own). */
export class MalformedBody extends QuiverError {
  static readonly code = 'MALFORMED_BODY';

  constructor(contentType: string, reason: string) {
    super(MalformedBody.code, `the body is not valid ${contentType}: ${reason.split('\n')[0] ?? reason}`);
  }
}
