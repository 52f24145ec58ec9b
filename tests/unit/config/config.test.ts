import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE } from '../../../jobs/deliver/retry-policy.js';
import { DEFAULT_MAX_CHUNKS_PER_JOB } from '../../../jobs/plan/plan-chunks.js';
import {
  boolean,
  bytes,
  configTable,
  explainConfig,
  list,
  logConfig,
  maskUrlPassword,
  oneOf,
  orOff,
  positiveInteger,
  positiveNumber,
  readConfig,
  readConfigEntries,
  seconds,
  url,
  wholeNumber,
} from '../../../schemas/config.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { DEFAULT_WEBHOOK_TIMEOUT_MS } from '../../../services/delivery/send-webhook.js';
import { DEFAULT_MAX_FOOTER_BYTES } from '../../../services/formats/parquet/parquet-footer.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../../../services/formats/text/record-boundaries.js';
import { DEFAULT_MAX_MODEL_BYTES } from '../../../services/scoring/model-store.js';
import { DEFAULT_API_URL } from '../../../services/cli/api-client.js';
import { thrown } from '../../helpers/thrown.js';

/** The reasons a parser gives for `text`, or its value. */
function parse<T>(
  parser: {
    safeParse(text: string): { success: boolean; data?: T; error?: { issues: { message: string }[] } };
  },
  text: string,
) {
  const result = parser.safeParse(text);
  return result.success
    ? { value: result.data }
    : { reason: result.error?.issues.map((i) => i.message).join('; ') };
}

describe('the config table’s parsers', () => {
  it('whole numbers: digits within bounds, nothing else', () => {
    const port = wholeNumber(0, 65535);
    expect(parse(port, '0')).toEqual({ value: 0 });
    expect(parse(port, '65535')).toEqual({ value: 65535 });
    for (const bad of ['65536', '-1', '80.5', '1e3', '0x50', ''])
      expect(parse(port, bad)).toEqual({ reason: 'expected a whole number from 0 to 65535' });
    expect(parse(positiveInteger(), '0')).toEqual({ reason: 'expected a whole number of at least 1' });
    expect(parse(positiveInteger(), '12')).toEqual({ value: 12 });
    expect(parse(bytes(), '2147483648')).toEqual({ value: 2 ** 31 });
    expect(parse(bytes(), '2GiB')).toEqual({ reason: 'expected a whole number of bytes of at least 1' });
  });

  it('positive numbers and seconds: fractions yes; zero, signs, exponents, units and Infinity no', () => {
    expect(parse(seconds(), '0.5')).toEqual({ value: 0.5 });
    expect(parse(seconds(), '90')).toEqual({ value: 90 });
    for (const bad of ['0', '-5', '5s', '1e3', 'Infinity', '.5'])
      expect(parse(seconds(), bad)).toEqual({ reason: 'expected a positive number of seconds' });
    expect(parse(positiveNumber('days'), '0')).toEqual({ reason: 'expected a positive number of days' });
  });

  it('booleans and enums: case-insensitive, canonical lower case out', () => {
    expect(parse(boolean(), 'TRUE')).toEqual({ value: true });
    expect(parse(boolean(), 'false')).toEqual({ value: false });
    expect(parse(boolean(), 'yes')).toEqual({ reason: 'expected true or false' });
    const level = oneOf(['trace', 'debug', 'info']);
    expect(parse(level, 'DEBUG')).toEqual({ value: 'debug' });
    expect(parse(level, 'loud')).toEqual({ reason: 'expected one of trace, debug, info' });
  });

  it('lists, URLs and off', () => {
    expect(parse(list(), ' a, b ,,c')).toEqual({ value: ['a', 'b', '', 'c'] });
    const http = url(['http:', 'https:'], 'an http(s)');
    expect(parse(http, 'https://minio:9000')).toEqual({ value: 'https://minio:9000' });
    expect(parse(http, 'minio:9000')).toEqual({ reason: 'expected an http(s) URL' });
    const days = orOff(positiveNumber('days'), 'a positive number of days');
    expect(parse(days, 'Off')).toEqual({ value: 'off' });
    expect(parse(days, '7')).toEqual({ value: 7 });
    expect(parse(days, 'forever')).toEqual({ reason: 'expected a positive number of days or "off"' });
  });
});

describe('readConfig', () => {
  it('fills defaults, the per-process one by process; blank is unset', () => {
    const names = ['QUIVER_API_PORT', 'QUIVER_SHUTDOWN_GRACE_SECONDS', 'QUIVER_S3_ENDPOINT'] as const;
    expect(
      readConfig({ QUIVER_API_PORT: ' ', QUIVER_S3_ENDPOINT: '' }, names, { process: 'worker' }),
    ).toEqual({
      QUIVER_API_PORT: 8080,
      QUIVER_SHUTDOWN_GRACE_SECONDS: 90,
      QUIVER_S3_ENDPOINT: undefined,
    });
    expect(readConfig({}, ['QUIVER_SHUTDOWN_GRACE_SECONDS'], { process: 'scheduler' })).toEqual({
      QUIVER_SHUTDOWN_GRACE_SECONDS: 30,
    });
    expect(() => readConfig({}, ['QUIVER_SHUTDOWN_GRACE_SECONDS'])).toThrow(/default per process/);
  });

  it('a flag wins over its variable and is what an error names', () => {
    const flags = { QUIVER_API_PORT: { flag: '--port', text: '9001' } };
    const entries = readConfigEntries({ QUIVER_API_PORT: '9000' }, ['QUIVER_API_PORT'], { flags });
    expect(entries.QUIVER_API_PORT).toEqual({
      name: 'QUIVER_API_PORT',
      value: 9001,
      source: 'flag',
      text: '9001',
      as: '--port',
    });
    const error = thrown(InvalidConfig, () =>
      readConfig({}, ['QUIVER_API_PORT'], { flags: { QUIVER_API_PORT: { flag: '--port', text: 'http' } } }),
    );
    expect(error.variable).toBe('--port');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe('Invalid --port: expected a whole number from 0 to 65535, got "http"');
  });

  it('leaves a secret’s value out of the error', () => {
    const error = thrown(InvalidConfig, () =>
      readConfig({ QUIVER_API_KEYS: 'x'.repeat(1024 * 1024 + 1) }, ['QUIVER_API_KEYS']),
    );
    expect(error.message).toBe('Invalid QUIVER_API_KEYS: expected at most 1048576 characters');
  });

  it('logConfig: info by default, the format only when set', () => {
    expect(logConfig({})).toEqual({ level: 'info' });
    expect(logConfig({ QUIVER_LOG_LEVEL: 'debug', QUIVER_LOG_FORMAT: 'pretty' })).toEqual({
      level: 'debug',
      format: 'pretty',
    });
    expect(() => logConfig({ QUIVER_LOG_FORMAT: 'xml' })).toThrow(
      'Invalid QUIVER_LOG_FORMAT: expected json or pretty, got "xml"',
    );
  });

  it('the table’s defaults are the ones the modules that use them declare', () => {
    expect(configTable.QUIVER_MAX_CHUNKS_PER_JOB.default).toBe(DEFAULT_MAX_CHUNKS_PER_JOB);
    expect(configTable.QUIVER_MAX_MODEL_BYTES.default).toBe(DEFAULT_MAX_MODEL_BYTES);
    expect(configTable.QUIVER_MAX_RECORD_BYTES.default).toBe(DEFAULT_MAX_RECORD_BYTES);
    expect(configTable.QUIVER_MAX_PARQUET_FOOTER_BYTES.default).toBe(DEFAULT_MAX_FOOTER_BYTES);
    expect(configTable.QUIVER_WEBHOOK_RETRY_SCHEDULE.default).toBe(DEFAULT_RETRY_SCHEDULE);
    expect(configTable.QUIVER_WEBHOOK_TIMEOUT_SECONDS.default * 1000).toBe(DEFAULT_WEBHOOK_TIMEOUT_MS);
    expect(configTable.QUIVER_API_URL.default).toBe(DEFAULT_API_URL);
  });
});

describe('explainConfig', () => {
  it('shows each variable of a process with its source, secrets masked', () => {
    const shown = explainConfig(
      {
        QUIVER_API_KEYS: 'acme:acme-0123456789abcdef',
        QUIVER_REDIS_URL: 'rediss://user:hunter2hunter2@redis.internal:6380/2',
        QUIVER_API_PORT: '9000',
      },
      'api',
    );
    const byName = Object.fromEntries(shown.map((s) => [s.name, s]));
    expect(byName.QUIVER_API_KEYS).toEqual({ name: 'QUIVER_API_KEYS', value: '****', source: 'env' });
    expect(byName.QUIVER_REDIS_URL?.value).toBe('rediss://user:****@redis.internal:6380/2');
    expect(byName.QUIVER_API_PORT).toEqual({ name: 'QUIVER_API_PORT', value: '9000', source: 'env' });
    expect(byName.QUIVER_API_HOST).toEqual({ name: 'QUIVER_API_HOST', value: '0.0.0.0', source: 'default' });
    expect(byName.QUIVER_LOG_FORMAT).toEqual({
      name: 'QUIVER_LOG_FORMAT',
      value: 'json; pretty on a terminal',
      source: 'unset',
    });
    expect(byName.QUIVER_DEVICES).toBeUndefined();
    expect(JSON.stringify(shown)).not.toContain('hunter2');
    expect(JSON.stringify(shown)).not.toContain('0123456789abcdef');
  });

  it('masks only a URL’s password', () => {
    expect(maskUrlPassword('redis://:pw@host:6379')).toBe('redis://:****@host:6379');
    expect(maskUrlPassword('redis://host:6379')).toBe('redis://host:6379');
  });
});
