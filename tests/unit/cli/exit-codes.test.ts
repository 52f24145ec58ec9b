import { describe, expect, it } from 'vitest';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { ApiRequestError } from '../../../services/cli/errors/api-request-error.js';
import { ApiResponseInvalid } from '../../../services/cli/errors/api-response-invalid.js';
import { ApiUnreachable } from '../../../services/cli/errors/api-unreachable.js';
import { SpecFileInvalid } from '../../../services/cli/errors/spec-file-invalid.js';
import { UsageError } from '../../../services/cli/errors/usage-error.js';
import { exitCodeForError, exitCodeForStatus, exitCodes } from '../../../services/cli/exit-codes.js';

describe('exit codes', () => {
  it('are the documented numbers', () => {
    expect(exitCodes).toEqual({
      ok: 0,
      error: 1,
      usage: 2,
      jobFailed: 3,
      jobCancelled: 4,
      notFound: 5,
      timedOut: 6,
      jobExpired: 7,
    });
  });

  it("map a watched job's outcome", () => {
    expect(exitCodeForStatus('succeeded')).toBe(0);
    expect(exitCodeForStatus('failed')).toBe(3);
    expect(exitCodeForStatus('cancelled')).toBe(4);
    expect(exitCodeForStatus('expired')).toBe(7);
    expect(exitCodeForStatus('running')).toBe(0);
  });

  it('map errors: usage and invalid specs 2, unknown jobs 5, everything else 1', () => {
    expect(exitCodeForError(new UsageError('bad flag'))).toBe(2);
    expect(exitCodeForError(new JobSpecInvalid([{ path: 'input', message: 'required' }]))).toBe(2);
    expect(exitCodeForError(new SpecFileInvalid('x.yaml', 'no such file'))).toBe(2);
    expect(exitCodeForError(new ApiRequestError(400, 'JOB_SPEC_INVALID', 'bad'))).toBe(2);
    expect(exitCodeForError(new ApiRequestError(404, 'JOB_NOT_FOUND', 'no job'))).toBe(5);
    for (const status of [401, 403, 409, 413, 429, 500, 503])
      expect(exitCodeForError(new ApiRequestError(status, 'X', 'x'))).toBe(1);
    expect(exitCodeForError(new ApiUnreachable('http://127.0.0.1:1', 'ECONNREFUSED'))).toBe(1);
    expect(exitCodeForError(new ApiResponseInvalid('GET /v1/jobs/x', 'not JSON'))).toBe(1);
    expect(exitCodeForError(new Error('bug'))).toBe(1);
  });
});
