import { describe, expect, it, vi } from 'vitest';

import { IncompleteRead } from '../../../jobs/ports/errors/incomplete-read.js';
import { StorageAccessDenied } from '../../../jobs/ports/errors/storage-access-denied.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { StorageUnavailable } from '../../../jobs/ports/errors/storage-unavailable.js';
import {
  backoffDelayMs,
  isTransientError,
  resolveRetryPolicy,
  sleep,
  withRetry,
} from '../../../services/storage/retry.js';

/** An error shaped like the AWS SDK's service exceptions. */
function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

function errnoError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('isTransientError', () => {
  it.each([
    ['SlowDown 503', sdkError('SlowDown', 503)],
    ['ServiceUnavailable 503', sdkError('ServiceUnavailable', 503)],
    ['InternalError 500', sdkError('InternalError', 500)],
    ['any 502', sdkError('BadGateway', 502)],
    ['TooManyRequests 429', sdkError('TooManyRequestsException', 429)],
    ['RequestTimeout 400', sdkError('RequestTimeout', 400)],
    ['ECONNRESET', errnoError('ECONNRESET')],
    ['EPIPE', errnoError('EPIPE')],
    ['ETIMEDOUT', errnoError('ETIMEDOUT')],
    ['premature close', errnoError('ERR_STREAM_PREMATURE_CLOSE', 'Premature close')],
    ['socket hang up', new Error('socket hang up')],
    ['SDK TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
    ['incomplete body', new IncompleteRead('s3://b/k', 10, 5)],
    ['wrapped reset', new Error('fetch failed', { cause: errnoError('ECONNRESET') })],
  ])('retries %s', (_label, error) => {
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ['NoSuchKey 404', sdkError('NoSuchKey', 404)],
    ['NoSuchBucket 404', sdkError('NoSuchBucket', 404)],
    ['NotFound 404', sdkError('NotFound', 404)],
    ['AccessDenied 403', sdkError('AccessDenied', 403)],
    ['InvalidRange 416', sdkError('InvalidRange', 416)],
    ['other 400', sdkError('InvalidArgument', 400)],
    ['StorageNotFound', new StorageNotFound('s3://b/k', 'key')],
    ['StorageAccessDenied', new StorageAccessDenied('s3://b/k')],
    ['StorageUnavailable', new StorageUnavailable('s3://b/k', 6)],
    ['ENOENT', errnoError('ENOENT')],
    ['AbortError', new DOMException('aborted', 'AbortError')],
    ['a plain bug', new TypeError('x is undefined')],
    ['not an Error', 'ECONNRESET'],
  ])('does not retry %s', (_label, error) => {
    expect(isTransientError(error)).toBe(false);
  });
});

describe('backoffDelayMs', () => {
  it('stays within [0, min(cap, base * 2^(n-1))] and reaches the bound', () => {
    const low = resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 5_000, random: () => 0 });
    const high = resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 5_000, random: () => 0.999_999 });
    const ceilings = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000];
    ceilings.forEach((ceiling, index) => {
      expect(backoffDelayMs(index + 1, low)).toBe(0);
      expect(backoffDelayMs(index + 1, high)).toBe(ceiling - 1);
    });
  });

  it('never exceeds the cap whatever the random source', () => {
    const policy = resolveRetryPolicy({ baseDelayMs: 50, maxDelayMs: 1_000 });
    for (let retry = 1; retry <= 40; retry += 1) {
      const delay = backoffDelayMs(retry, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(1_000);
    }
  });

  it('has sensible defaults and rejects nonsense', () => {
    expect(resolveRetryPolicy()).toMatchObject({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 5_000 });
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ baseDelayMs: -1 })).toThrow(RangeError);
  });
});

describe('withRetry', () => {
  const fast = resolveRetryPolicy({ maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2 });

  it('retries transient failures until success', async () => {
    const operation = vi
      .fn<(attempt: number) => Promise<string>>()
      .mockRejectedValueOnce(sdkError('SlowDown', 503))
      .mockRejectedValueOnce(errnoError('ECONNRESET'))
      .mockResolvedValue('ok');
    await expect(withRetry(fast, { uri: 's3://b/k' }, operation)).resolves.toBe('ok');
    expect(operation.mock.calls.map(([attempt]) => attempt)).toEqual([1, 2, 3]);
  });

  it('throws StorageUnavailable with the last failure as cause once attempts run out', async () => {
    const last = sdkError('SlowDown', 503);
    const operation = vi.fn(() => Promise.reject(last));
    const error: unknown = await withRetry(fast, { uri: 's3://b/k' }, operation).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StorageUnavailable);
    expect(error).toMatchObject({ code: 'STORAGE_UNAVAILABLE', uri: 's3://b/k', attempts: 4, cause: last });
    expect((error as Error).message).toContain('s3://b/k');
    expect(operation).toHaveBeenCalledTimes(4);
  });

  it('fails at once on a permanent failure, mapped by mapError', async () => {
    const operation = vi.fn(() => Promise.reject(sdkError('NoSuchKey', 404)));
    const mapped = new StorageNotFound('s3://b/k', 'key');
    await expect(withRetry(fast, { uri: 's3://b/k', mapError: () => mapped }, operation)).rejects.toBe(
      mapped,
    );
    expect(operation).toHaveBeenCalledTimes(1);
  });

  it('reports each retry with its delay', async () => {
    const events: number[] = [];
    const policy = resolveRetryPolicy({
      maxAttempts: 3,
      baseDelayMs: 1,
      maxDelayMs: 1,
      onRetry: (event) => events.push(event.attempt),
    });
    await withRetry(policy, { uri: 'u' }, () => Promise.reject(sdkError('SlowDown', 503))).catch(
      () => undefined,
    );
    expect(events).toEqual([1, 2]);
  });

  it('stops a long backoff wait promptly when the signal aborts', async () => {
    const slow = resolveRetryPolicy({
      maxAttempts: 5,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      random: () => 0.99,
    });
    const controller = new AbortController();
    const operation = vi.fn(() => Promise.reject(sdkError('SlowDown', 503)));
    const started = performance.now();
    const pending = withRetry(slow, { uri: 'u', signal: controller.signal }, operation);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(operation).toHaveBeenCalledTimes(1);
  });

  it('does not start when the signal is already aborted', async () => {
    const operation = vi.fn(() => Promise.resolve(1));
    await expect(withRetry(fast, { uri: 'u', signal: AbortSignal.abort() }, operation)).rejects.toMatchObject(
      {
        name: 'AbortError',
      },
    );
    expect(operation).not.toHaveBeenCalled();
  });
});

describe('sleep', () => {
  it('rejects with an AbortError carrying the reason and leaves no timer', async () => {
    vi.useFakeTimers();
    try {
      const controller = new AbortController();
      const pending = sleep(10_000, controller.signal);
      controller.abort(new Error('shutdown'));
      await expect(pending).rejects.toMatchObject({ name: 'AbortError', cause: new Error('shutdown') });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
