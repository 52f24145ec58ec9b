import type { Log } from '../../jobs/ports/log.js';

/** One line a {@link RecordingLog} took: as pino would write it, minus time and pid. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  [key: string]: unknown;
}

export interface RecordingLog extends Log {
  /** Every line written through this log or any child of it, in order. */
  readonly records: LogRecord[];
  /** The records whose `msg` is `msg`. */
  withMessage(msg: string): LogRecord[];
}

/**
 * A {@link Log} for tests that keeps `{ level, msg, ...bindings, ...context }` objects instead of writing
 * lines; children share their parent's `records`. `onRecord` runs on every line (a test that stops a
 * worker at a given event hooks it there).
 */
export function makeRecordingLog(onRecord?: (record: LogRecord) => void): RecordingLog {
  const records: LogRecord[] = [];
  const make = (bindings: Record<string, unknown>): Log => {
    const write =
      (level: LogRecord['level']) =>
      (context: object, msg: string): void => {
        const record: LogRecord = { ...bindings, ...context, level, msg };
        records.push(record);
        onRecord?.(record);
      };
    return {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return {
    ...make({}),
    records,
    withMessage: (msg) => records.filter((r) => r.msg === msg),
  };
}

/** The last `n` records as one line, for a failing test's message. */
export function lastRecords(log: RecordingLog, n = 5): string {
  return log.records
    .slice(-n)
    .map((r) => JSON.stringify(r))
    .join(' | ');
}
