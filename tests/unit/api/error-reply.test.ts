import { describe, expect, it } from 'vitest';
import { InvalidJobTransition } from '../../../jobs/errors/invalid-job-transition.js';
import { apiErrorSchema } from '../../../schemas/api.js';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { RateLimited } from '../../../services/api/errors/rate-limited.js';
import { Unauthenticated } from '../../../services/api/errors/unauthenticated.js';
import { errorReply } from '../../../services/api/error-reply.js';
import { IdempotencyConflict } from '../../../jobs/ports/errors/idempotency-conflict.js';
import { JobNotFound } from '../../../jobs/ports/errors/job-not-found.js';
import { TooManyActiveJobs } from '../../../jobs/ports/errors/too-many-active-jobs.js';

const options = { activeJobsRetryAfterSeconds: 30 };

describe('errorReply', () => {
  it('gives each expected error its status and stable code, in the one error shape', () => {
    const cases: Array<[Error, number, string]> = [
      [new JobSpecInvalid([{ path: 'input.uri', message: 'required' }]), 400, 'JOB_SPEC_INVALID'],
      [new Unauthenticated(false), 401, 'UNAUTHENTICATED'],
      [new JobNotFound('j1'), 404, 'JOB_NOT_FOUND'],
      [new IdempotencyConflict('k', 'j1'), 409, 'IDEMPOTENCY_CONFLICT'],
      [new InvalidJobTransition('finalizing', 'cancelling', 'j1'), 409, 'JOB_INVALID_TRANSITION'],
      [new TooManyActiveJobs('acme', 3), 429, 'TOO_MANY_ACTIVE_JOBS'],
      [new RateLimited('acme', 12), 429, 'RATE_LIMITED'],
    ];
    for (const [error, status, code] of cases) {
      const reply = errorReply(error, options);
      expect(reply.statusCode).toBe(status);
      expect(apiErrorSchema.parse(reply.body).error.code).toBe(code);
      // The code has its own field; the message does not repeat it.
      expect(reply.body.error.message.startsWith(`${code}:`)).toBe(false);
    }
    expect(errorReply(cases[0]![0], options).body.error.problems).toEqual([
      { path: 'input.uri', message: 'required' },
    ]);
  });

  it('adds the challenge and Retry-After headers', () => {
    expect(errorReply(new Unauthenticated(true), options).headers['www-authenticate']).toContain(
      'invalid_token',
    );
    expect(errorReply(new RateLimited('acme', 12), options).headers['retry-after']).toBe('12');
    expect(errorReply(new TooManyActiveJobs('acme', 3), options).headers['retry-after']).toBe('30');
  });

  it('keeps framework 4xx statuses with stable codes, and hides everything else behind a 500', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      statusCode: 413,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    });
    expect(errorReply(tooLarge, options)).toMatchObject({
      statusCode: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
    const odd = Object.assign(new Error('odd'), { statusCode: 418 });
    expect(errorReply(odd, options)).toMatchObject({
      statusCode: 418,
      body: { error: { code: 'BAD_REQUEST' } },
    });
    const internal = errorReply(new Error('connection to 10.0.0.7 refused'), options);
    expect(internal.statusCode).toBe(500);
    expect(internal.body.error).toEqual({
      code: 'INTERNAL',
      message: 'internal error; the server log has the details',
    });
    expect(errorReply('not even an error', options).statusCode).toBe(500);
  });
});
