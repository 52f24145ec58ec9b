import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from '../../../jobs/deliver/retry-policy.js';
import { deliveryConfigFromEnv } from '../../../services/delivery/delivery-options.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { emptyAllowlist } from '../../../services/delivery/ssrf-guard.js';
import { loadWorkerConfig } from '../../../services/worker/worker-options.js';
import { thrown } from '../../helpers/thrown.js';

describe('delivery options', () => {
  it('defaults: no allowlist, the ≈ 3-day schedule, 15 s per attempt, 8 at once', () => {
    expect(deliveryConfigFromEnv({})).toEqual({
      allowlist: emptyAllowlist,
      policy: { scheduleMs: parseRetrySchedule(DEFAULT_RETRY_SCHEDULE) },
      timeoutMs: 15_000,
      concurrency: 8,
    });
  });

  it('reads QUIVER_WEBHOOK_* and is part of the worker configuration', () => {
    const { delivery } = loadWorkerConfig(
      [],
      {
        QUIVER_WEBHOOK_ALLOW: '127.0.0.1/32,localhost',
        QUIVER_WEBHOOK_RETRY_SCHEDULE: '50ms,100ms,200ms',
        QUIVER_WEBHOOK_TIMEOUT_SECONDS: '2.5',
        QUIVER_WEBHOOK_CONCURRENCY: '3',
      },
      { gpuCount: 0 },
    );
    expect(delivery.policy.scheduleMs).toEqual([50, 100, 200]);
    expect(delivery.timeoutMs).toBe(2_500);
    expect(delivery.concurrency).toBe(3);
    expect([...delivery.allowlist.hosts]).toEqual(['localhost']);
    expect(delivery.allowlist.ranges).toHaveLength(1);
  });

  it.each([
    ['QUIVER_WEBHOOK_ALLOW', 'localhost,not a host!'],
    ['QUIVER_WEBHOOK_RETRY_SCHEDULE', 'soon'],
    ['QUIVER_WEBHOOK_TIMEOUT_SECONDS', '0'],
    ['QUIVER_WEBHOOK_TIMEOUT_SECONDS', '15s'],
    ['QUIVER_WEBHOOK_CONCURRENCY', '1.5'],
  ])('stops the worker at start on %s=%j, naming the variable', (variable, value) => {
    const error = thrown(InvalidConfig, () => loadWorkerConfig([], { [variable]: value }, { gpuCount: 0 }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
  });
});
