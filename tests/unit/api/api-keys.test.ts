import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearerToken, loadApiKeys, parseApiKeys } from '../../../services/api/api-keys.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { thrown } from '../../helpers/thrown.js';

const acmeKey = 'acme-0123456789abcdef';
const opsKey = 'ops-0123456789abcdef0';

describe('parseApiKeys', () => {
  it('binds each key to its tenant, with the admin scope when asked', () => {
    const keys = parseApiKeys(`acme:${acmeKey}, ops:${opsKey}:admin`, 'QUIVER_API_KEYS');
    expect(keys.size).toBe(2);
    expect(keys.authenticate(acmeKey)).toEqual({ tenant: 'acme', admin: false });
    expect(keys.authenticate(opsKey)).toEqual({ tenant: 'ops', admin: true });
    expect(keys.authenticate('acme')).toBeUndefined();
    expect(keys.authenticate(`${acmeKey} `)).toBeUndefined();
  });

  it('reads lines with comments, several keys per tenant, and keys given as their SHA-256', () => {
    const digest = createHash('sha256').update('rotated-key-0123456789').digest('hex');
    const keys = parseApiKeys(
      `# tenants\nacme:${acmeKey}\nacme:sha256-${digest} # after rotation\n\n`,
      'QUIVER_API_KEYS_FILE',
    );
    expect(keys.authenticate(acmeKey)?.tenant).toBe('acme');
    expect(keys.authenticate('rotated-key-0123456789')?.tenant).toBe('acme');
  });

  it('keeps no key in clear', () => {
    const keys = parseApiKeys(`acme:${acmeKey}`, 'QUIVER_API_KEYS');
    const seen = new WeakSet<object>();
    const holdsKey = (value: unknown): boolean => {
      if (typeof value === 'string') return value.includes(acmeKey);
      if (typeof value !== 'object' || value === null || seen.has(value)) return false;
      seen.add(value);
      const entries = value instanceof Map ? [...value.entries()].flat() : Object.values(value);
      return entries.some(holdsKey);
    };
    expect(holdsKey(keys)).toBe(false);
  });

  it('refuses bad entries naming the variable and the entry, never the key', () => {
    for (const [text, reason] of [
      ['acme', /expected tenant:key/],
      [`acme:${acmeKey}:root`, /expected tenant:key/],
      [`bad tenant:${acmeKey}`, /tenant must be/],
      ['acme:short', /at least 16/],
      [`acme:${acmeKey},globex:${acmeKey}`, /two tenants/],
    ] as const) {
      const error = thrown(InvalidConfig, () => parseApiKeys(text, 'QUIVER_API_KEYS'));
      expect(error.variable).toBe('QUIVER_API_KEYS');
      expect(error.message).toMatch(reason);
      expect(error.message).not.toContain(acmeKey);
    }
  });
});

describe('loadApiKeys', () => {
  it('combines QUIVER_API_KEYS and QUIVER_API_KEYS_FILE', () => {
    const keys = loadApiKeys({ QUIVER_API_KEYS: `acme:${acmeKey}`, QUIVER_API_KEYS_FILE: '/keys' }, (path) =>
      path === '/keys' ? `ops:${opsKey}:admin\n` : '',
    );
    expect(keys.size).toBe(2);
    expect(keys.authenticate(opsKey)?.admin).toBe(true);
  });

  it('requires at least one key, and a readable file', () => {
    expect(thrown(InvalidConfig, () => loadApiKeys({})).variable).toBe('QUIVER_API_KEYS');
    const unreadable = thrown(InvalidConfig, () =>
      loadApiKeys({ QUIVER_API_KEYS_FILE: '/nope' }, () => {
        throw new Error('ENOENT');
      }),
    );
    expect(unreadable.variable).toBe('QUIVER_API_KEYS_FILE');
  });
});

describe('bearerToken', () => {
  it('takes the token of a Bearer header only', () => {
    expect(bearerToken(`Bearer ${acmeKey}`)).toBe(acmeKey);
    expect(bearerToken(`bearer  ${acmeKey}`)).toBe(acmeKey);
    expect(bearerToken(`Basic ${acmeKey}`)).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
