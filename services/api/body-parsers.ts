import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { MalformedBody } from './errors/malformed-body.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

/**
 * Request bodies are JSON or YAML (job specs are written in either, as for the CLI); anything else is 415.
 * An empty body is no body (a bare `POST …/cancel` with a JSON content type). JSON stays Fastify's strict
 * parser, prototype poisoning refused; YAML keeps the `yaml` package's alias limits against expansion bombs.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Fastify's default text/plain parser would hand plain strings to routes.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    if (text === '') done(null, undefined);
    else void parseJson(request, text, done);
  });
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    try {
      done(null, text === '' ? undefined : (YAML.parse(text) as unknown));
    } catch (error) {
      done(new MalformedBody('YAML', error instanceof Error ? error.message : String(error)));
    }
  });
}
