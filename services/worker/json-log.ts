/** One event: a message and its context (`{ jobId, chunk, … }`), so one grep follows one job. */
export type LogFn = (message: string, context?: Record<string, unknown>) => void;

export interface JsonLog {
  /** Events on stdout. */
  info: LogFn;
  /** Failures on stderr. */
  error: LogFn;
  /** A log whose every line carries `scope` as well (the device, the pid). */
  child(scope: Record<string, unknown>): JsonLog;
}

interface Sink {
  write(line: string): unknown;
}

const replacer = (_key: string, value: unknown): unknown =>
  typeof value === 'bigint' ? value.toString() : value instanceof Error ? value.message : value;

/**
 * A log that writes one JSON line per event: `{ time, level, msg, ...scope, ...context }`. Writes to pipes
 * and files are synchronous on Linux, so a line written before `process.exit` is not lost.
 */
export function makeJsonLog(
  scope: Record<string, unknown> = {},
  sinks: { out: Sink; err: Sink } = { out: process.stdout, err: process.stderr },
): JsonLog {
  const write =
    (level: 'info' | 'error', sink: Sink): LogFn =>
    (message, context) => {
      const event = { time: new Date().toISOString(), level, msg: message, ...scope, ...context };
      sink.write(`${JSON.stringify(event, replacer)}\n`);
    };
  return {
    info: write('info', sinks.out),
    error: write('error', sinks.err),
    child: (more) => makeJsonLog({ ...scope, ...more }, sinks),
  };
}
