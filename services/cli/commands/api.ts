import type { Command } from '../command.js';

export const apiCommand: Command = {
  name: 'api',
  synopsis: 'api [--port N] [--host ADDR]',
  summary: 'Serve the HTTP API (/v1/jobs, /healthz, /readyz, /openapi.json) until stopped.',
  help: `Usage: quiver api [--port N] [--host ADDR]

Serves the HTTP API: /v1/jobs (submit, status with long-poll, list, cancel, results, deliveries),
/healthz, /readyz, and the OpenAPI document at /openapi.json with a docs page. SIGTERM/SIGINT stop it
gracefully. Invalid configuration stops it at start, naming the variable.

  --port N        TCP port (QUIVER_API_PORT; default 8080; 0 picks a free one).
  --host ADDR     Address to listen on (QUIVER_API_HOST; default 0.0.0.0).

Environment: QUIVER_API_KEYS (tenant:key,…) or QUIVER_API_KEYS_FILE, QUIVER_TENANTS_FILE (keys, storage
grants, limits), QUIVER_STORAGE_GRANTS (enforce; open), QUIVER_API_BODY_LIMIT_BYTES (1 MiB),
QUIVER_API_MAX_ACTIVE_JOBS (100 per tenant), QUIVER_API_RATE_LIMIT (1200 requests per
QUIVER_API_RATE_WINDOW_SECONDS, 60), QUIVER_API_URL_EXPIRY_SECONDS (3600, presigned result URLs),
QUIVER_API_SHUTDOWN_GRACE_SECONDS (10), QUIVER_WEBHOOK_ALLOW, plus QUIVER_REDIS_URL, QUIVER_PREFIX and
the S3 settings.
`,
  async run(args) {
    const { apiMain } = await import('../../api/main.js');
    return apiMain(args, this.help);
  },
};
