import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import type { ScheduleInput } from '../../../schemas/schedule.js';
import { parseWebhookAllowlist } from '../../../services/delivery/ssrf-guard.js';
import { type ApiHarness, auth, specInput, startApi } from '../api/api-harness.js';

let h: ApiHarness;

beforeEach(async () => {
  h = await startApi();
});

afterEach(async () => {
  await h.close();
});

const withHook = (url: string): ScheduleInput => ({
  name: 'nightly-fraud',
  cron: '30 2 * * *',
  job: { ...specInput, webhook: { url, secret: 'whsec_c2VjcmV0' } },
});

const put = (app: ApiHarness['app'], body: ScheduleInput) =>
  app.inject({ method: 'POST', url: '/v1/schedules', headers: auth('ops'), payload: body });

describe('webhook URLs of schedule templates (SSRF guard)', () => {
  it('refuses literal loopback, private, link-local and mapped addresses at job.webhook.url, as for jobs', async () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://[::1]:8080/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]/hook',
      'http://2130706433/hook',
      // Placeholders are rendered before the check.
      'http://127.0.0.1/hook/{date}',
    ]) {
      const response = await put(h.app, withHook(url));
      expect(response.statusCode, url).toBe(400);
      const body = apiErrorSchema.parse(response.json());
      expect(body.error.code).toBe('SCHEDULE_INVALID');
      expect(body.error.problems, url).toEqual([
        { path: 'job.webhook.url', message: expect.stringContaining('WEBHOOK_URL_REFUSED') as unknown },
      ]);
    }
    // Replacing an existing schedule is checked the same way.
    expect((await put(h.app, withHook('https://hooks.example.com/quiver'))).statusCode).toBe(201);
    const replaced = await put(h.app, withHook('http://10.0.0.1/hook'));
    expect(replaced.statusCode).toBe(400);
    expect((await h.schedules.get('ops', 'nightly-fraud'))?.job).toMatchObject({
      webhook: { url: 'https://hooks.example.com/quiver' },
    });
  });

  it('lets public addresses, hostnames and allowlisted addresses through', async () => {
    expect((await put(h.app, withHook('https://93.184.215.14/hook/{date}'))).statusCode).toBe(201);
    expect((await put(h.app, withHook('https://hooks.example.com/quiver'))).statusCode).toBe(200);
    const allowing = await h.another({ webhookAllow: parseWebhookAllowlist('127.0.0.1/32') });
    expect((await put(allowing, withHook('http://127.0.0.1:9999/hook'))).statusCode).toBe(200);
  });
});
