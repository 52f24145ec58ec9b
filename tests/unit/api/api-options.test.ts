import { describe, expect, it } from 'vitest';
import {
  addApiDefaults,
  apiDefaults,
  loadApiConfig,
  parseApiOptions,
} from '../../../services/api/api-options.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { thrown } from '../../helpers/thrown.js';

describe('API options', () => {
  it('defaults: port 8080 on every interface, 1 MiB bodies, 100 active jobs, 1200 requests a minute', () => {
    expect(addApiDefaults(parseApiOptions([], {}))).toEqual({
      port: 8080,
      host: '0.0.0.0',
      bodyLimitBytes: 1024 * 1024,
      maxActiveJobs: 100,
      activeJobsRetryAfterSeconds: 30,
      rateLimitMax: 1200,
      rateLimitWindowSeconds: 60,
      authFailureLimit: 30,
      trustProxy: false,
      resultUrlExpirySeconds: 3600,
      shutdownGraceSeconds: 10,
      webhookAllow: { hosts: new Set(), ranges: [] },
      specMaxStringBytes: 2048,
      specMaxColumns: 1000,
      specMaxLabels: 32,
      specMinChunkRows: 1000,
    });
    expect(addApiDefaults({})).toEqual(apiDefaults);
  });

  it('reads every variable, flags overriding', () => {
    const env = {
      QUIVER_API_PORT: '9000',
      QUIVER_API_HOST: '127.0.0.1',
      QUIVER_API_BODY_LIMIT_BYTES: '65536',
      QUIVER_API_MAX_ACTIVE_JOBS: '5',
      QUIVER_API_RATE_LIMIT: '50',
      QUIVER_API_RATE_WINDOW_SECONDS: '10',
      QUIVER_API_AUTH_FAILURE_LIMIT: '7',
      QUIVER_API_TRUST_PROXY: '10.0.0.0/8, 192.168.1.7',
      QUIVER_API_URL_EXPIRY_SECONDS: '60',
      QUIVER_API_SHUTDOWN_GRACE_SECONDS: '3',
    };
    expect(parseApiOptions([], env)).toEqual({
      port: 9000,
      host: '127.0.0.1',
      bodyLimitBytes: 65536,
      maxActiveJobs: 5,
      rateLimitMax: 50,
      rateLimitWindowSeconds: 10,
      authFailureLimit: 7,
      trustProxy: ['10.0.0.0/8', '192.168.1.7'],
      resultUrlExpirySeconds: 60,
      shutdownGraceSeconds: 3,
    });
    expect(parseApiOptions(['--port', '0', '--host', '::1'], env)).toMatchObject({ port: 0, host: '::1' });
  });

  it('refuses unusable values, naming the variable or flag', () => {
    for (const [env, args, variable] of [
      [{ QUIVER_API_PORT: '70000' }, [], 'QUIVER_API_PORT'],
      [{ QUIVER_API_PORT: '80.5' }, [], 'QUIVER_API_PORT'],
      [{}, ['--port', 'http'], '--port'],
      [{ QUIVER_API_BODY_LIMIT_BYTES: '1MB' }, [], 'QUIVER_API_BODY_LIMIT_BYTES'],
      [{ QUIVER_API_MAX_ACTIVE_JOBS: '0' }, [], 'QUIVER_API_MAX_ACTIVE_JOBS'],
      [{ QUIVER_API_RATE_LIMIT: '-1' }, [], 'QUIVER_API_RATE_LIMIT'],
      [{ QUIVER_API_AUTH_FAILURE_LIMIT: '0' }, [], 'QUIVER_API_AUTH_FAILURE_LIMIT'],
      [{ QUIVER_API_TRUST_PROXY: 'yes' }, [], 'QUIVER_API_TRUST_PROXY'],
      [{ QUIVER_API_TRUST_PROXY: '10.0.0.0/33' }, [], 'QUIVER_API_TRUST_PROXY'],
      [{ QUIVER_API_URL_EXPIRY_SECONDS: '604801' }, [], 'QUIVER_API_URL_EXPIRY_SECONDS'],
    ] as const) {
      const error = thrown(InvalidConfig, () => parseApiOptions([...args], env));
      expect(error.variable).toBe(variable);
      expect(error.code).toBe('CONFIG_INVALID');
    }
    expect(() => parseApiOptions(['--bogus'], {})).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^ERR_PARSE_ARGS/) as unknown }),
    );
  });

  it('loads keys, Redis and storage settings with the options', () => {
    const config = loadApiConfig([], { QUIVER_API_KEYS: 'acme:acme-0123456789abcdef' });
    expect(config.keys.size).toBe(1);
    expect(config.redis.prefix).toBe('{quiver}');
    expect(() => loadApiConfig([], {})).toThrow(InvalidConfig);
    expect(() =>
      loadApiConfig([], { QUIVER_API_KEYS: 'acme:acme-0123456789abcdef', QUIVER_PREFIX: 'nohashtag' }),
    ).toThrow(InvalidConfig);
    // The webhook allowlist is the workers' variable, read (and checked) the same way.
    const allowing = loadApiConfig([], {
      QUIVER_API_KEYS: 'acme:acme-0123456789abcdef',
      QUIVER_WEBHOOK_ALLOW: '127.0.0.1/32, hooks.internal',
    });
    expect([...allowing.api.webhookAllow.hosts]).toEqual(['hooks.internal']);
    expect(allowing.api.webhookAllow.ranges).toHaveLength(1);
    expect(() =>
      loadApiConfig([], {
        QUIVER_API_KEYS: 'acme:acme-0123456789abcdef',
        QUIVER_WEBHOOK_ALLOW: 'not a host!',
      }),
    ).toThrow(/^Invalid QUIVER_WEBHOOK_ALLOW: .*not a host!/);
    // The workers' other delivery settings are not the API's: a bad one does not stop it.
    const unaffected = loadApiConfig([], {
      QUIVER_API_KEYS: 'acme:acme-0123456789abcdef',
      QUIVER_WEBHOOK_RETRY_SCHEDULE: 'soon',
      QUIVER_WEBHOOK_TIMEOUT_SECONDS: '-1',
    });
    expect(unaffected.api.webhookAllow.ranges).toEqual([]);
  });
});
