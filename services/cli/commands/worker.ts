import type { Command } from '../command.js';

export const workerCommand: Command = {
  name: 'worker',
  synopsis: 'worker [--devices cpu|all|gpu:0,1] [--grace-seconds N] [--spot-notice-url aws|off|URL]',
  summary: 'Score chunks from the queues until stopped; one process per device.',
  help: `Usage: quiver worker [--devices cpu|all|gpu:0,1] [--grace-seconds N] [--spot-notice-url aws|off|URL]

Scores chunks from the queues until stopped; one process per device (default cpu). The first SIGTERM/SIGINT
or a spot interruption notice drains (the chunk in hand finishes within the grace, default 90 s); a second
signal exits at once. Logs are JSON lines.

Environment: QUIVER_DEVICES, QUIVER_SHUTDOWN_GRACE_SECONDS, QUIVER_SPOT_NOTICE_URL, QUIVER_SPOT_POLL_SECONDS (5),
QUIVER_LOCK_SECONDS (30), QUIVER_CHECKPOINT_SECONDS (30), QUIVER_MODEL_CACHE, QUIVER_TUNING_CACHE, QUIVER_MAX_OPEN_MODELS (4),
QUIVER_MAX_CHUNKS_PER_JOB (100000; more fails the job with TOO_MANY_CHUNKS), QUIVER_MAX_MODEL_BYTES (2147483648 = 2 GiB;
a larger model fails with MODEL_TOO_LARGE), QUIVER_MAX_RECORD_BYTES (64 MiB; a longer CSV/JSONL record fails with
*_RECORD_TOO_LONG), QUIVER_MAX_PARQUET_FOOTER_BYTES (64 MiB; PARQUET_FOOTER_TOO_LARGE), QUIVER_TENANTS_FILE (storage grants checked on every listing,
read and write of a job), plus
QUIVER_REDIS_URL, QUIVER_PREFIX and the S3 settings.
`,
  async run(args) {
    const { workerMain } = await import('../../worker/main.js');
    return workerMain(args, this.help);
  },
};
