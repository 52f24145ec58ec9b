import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { logConfig } from '../../schemas/config.js';

/** How lines look: one JSON object per line (for collectors), or pino-pretty's coloured text (for people). */
export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  /** Lowest level written: `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent`. Default `info`. */
  level: string;
  /** Default: `pretty` when stdout is a terminal, else `json`. */
  format: LogFormat;
  /** Where lines go. Default stdout (fd 1), written synchronously. Tests pass a stream that collects. */
  destination?: DestinationStream;
}

/** Where a secret can sit in what we log: a webhook spec, a request's headers, S3 credentials, a key. */
const secretKeys = [
  'secret',
  'previousSecret',
  'secrets',
  'apiKey',
  'apiKeys',
  'authorization',
  'Authorization',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
];

/**
 * Redaction paths: each secret key at the top and up to three levels down (`webhook.secret`,
 * `req.headers.authorization`, `spec.webhook.secret`, `record.spec.webhook.previousSecret`); pino's
 * redaction has no "any depth" wildcard.
 */
const redactPaths = secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

/**
 * The query values that make a presigned S3 URL usable, wherever such a URL appears (a message, an error's
 * message or stack, a field): the URL stays readable, its signature does not.
 */
const presignedQuery = /(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"\\#]+/gi;

export function maskPresignedUrls(line: string): string {
  return line.replace(presignedQuery, '$1[redacted]');
}

/**
 * pino-pretty's formatting applied line by line as each is written, in this thread: its transport and its
 * stream both hand lines on later, and a line still in flight at `process.exit` would be lost.
 */
function prettyDestination(out: DestinationStream): DestinationStream {
  const pretty = prettyFactory({});
  return { write: (line: string) => out.write(pretty(line)) };
}

/**
 * The process's one logger (pino): `{ level, time, pid, ...bindings, ...context, msg }` lines, levels by
 * name, ISO times, errors under `err` through pino's serializer, secrets redacted. Writes are synchronous,
 * so a line written just before `process.exit` is not lost.
 */
export function makeLog(options: LogOptions): Logger {
  const out = options.destination ?? pino.destination({ dest: 1, sync: true });
  const destination = options.format === 'pretty' ? prettyDestination(out) : out;
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: '[redacted]' },
      hooks: { streamWrite: maskPresignedUrls },
    },
    destination,
  );
}

/**
 * The logger `QUIVER_LOG_LEVEL` and `QUIVER_LOG_FORMAT` ask for (`logConfig`); with no format set, pretty
 * on a terminal and JSON lines otherwise.
 */
export function logOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  isTerminal: boolean = process.stdout.isTTY === true,
): LogOptions {
  const { level, format } = logConfig(env);
  return { level, format: format ?? (isTerminal ? 'pretty' : 'json') };
}
