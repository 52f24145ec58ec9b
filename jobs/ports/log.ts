/**
 * The log a processor writes to: pino's calling convention (`log.info({ jobId, chunk }, 'chunk committed')`),
 * so the processes hand in their pino logger as is and tests hand in a recording fake. `child` binds the
 * context of one unit of work (`{ jobId, chunk, attempt }`) once; every line it writes carries it.
 */
export interface Log {
  debug(context: object, message: string): void;
  info(context: object, message: string): void;
  warn(context: object, message: string): void;
  error(context: object, message: string): void;
  child(bindings: Record<string, unknown>): Log;
}
