import { QuiverError } from '../schemas/errors/quiver-error.js';
import type { JobError } from '../schemas/job-record.js';

/**
 * The job record's `error` for a failure: its code, message and where it happened (the error's `location`),
 * and the chunk that failed when one did. Only a {@link QuiverError} has a stable code users may branch on;
 * anything else is `INTERNAL`, a bug or a failure Quiver did not name, with its message.
 */
export function jobErrorOf(error: unknown, chunk?: number): JobError {
  const out: JobError =
    error instanceof QuiverError
      ? { code: error.code, message: error.message }
      : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
  if (error instanceof QuiverError) {
    const { uri, row } = error.location;
    if (uri !== undefined) out.uri = uri;
    if (row !== undefined) out.row = row;
  }
  if (chunk !== undefined) out.chunk = chunk;
  return out;
}
