import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isPermanent } from '../../../schemas/errors/quiver-error.js';
import { errorReply } from '../../../services/api/error-reply.js';
import { StoreFull } from '../../../jobs/ports/errors/store-full.js';
import { redisReplyCode, storeFullOf } from '../../../services/queue/redis-connection.js';

const options = { activeJobsRetryAfterSeconds: 30 };
/** An error reply as ioredis surfaces it. */
const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);
const oom = () => reply("OOM command not allowed when used memory > 'maxmemory'.");

describe('Redis at maxmemory', () => {
  it('is a 503 STORE_FULL at the API, also when it aborted a MULTI', () => {
    const aborted = Object.assign(reply('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [oom()],
    });
    for (const error of [oom(), aborted, new StoreFull()]) {
      const answer = errorReply(error, options);
      expect(answer.statusCode).toBe(503);
      expect(answer.body.error.code).toBe('STORE_FULL');
      expect(answer.body.error.message).not.toContain('STORE_FULL:');
    }
  });

  it('is told by the reply’s code, not by text: other replies and our own errors stay 500', () => {
    expect(redisReplyCode(oom())).toBe('OOM');
    expect(redisReplyCode(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(
      'WRONGTYPE',
    );
    expect(redisReplyCode(new Error('OOM command not allowed'))).toBeUndefined();
    for (const error of [
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      reply('EXECABORT Transaction discarded because of previous errors.'),
      new Error("OOM command not allowed when used memory > 'maxmemory'."),
    ]) {
      expect(storeFullOf(error)).toBeUndefined();
      expect(errorReply(error, options).statusCode).toBe(500);
    }
    expect(storeFullOf(oom())?.cause).toBeInstanceOf(ReplyError as new () => Error);
  });

  it('is transient for workers: the chunk is retried, never failed as permanent', () => {
    expect(isPermanent(oom())).toBe(false);
    expect(isPermanent(new StoreFull())).toBe(false);
  });
});
