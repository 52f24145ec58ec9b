import type { Command } from '../command.js';

export const schedulerCommand: Command = {
  name: 'scheduler',
  synopsis: 'scheduler [--grace-seconds N]',
  summary: 'Run the nightly schedules (/v1/schedules): submit each due schedule’s job, until stopped.',
  help: `Usage: quiver scheduler [--grace-seconds N]

Runs the schedules managed through /v1/schedules: when a schedule's cron pattern comes due in its time
zone, submits its job, rendered for that day ({date}, {yyyy}, {mm}, {dd}, {datetime}). Each schedule makes
one job per day (the idempotency key schedule:<name>:<date>), so ticks delivered twice or several
scheduler processes never make two; one replica is enough. At start it brings BullMQ's job schedulers in
line with the stored schedules. The first SIGTERM/SIGINT drains (ticks in hand finish within the grace,
default 30 s); a second signal exits at once. Logs are JSON lines.

  --grace-seconds N   Drain time limit (QUIVER_SHUTDOWN_GRACE_SECONDS; default 30).

Environment: QUIVER_REDIS_URL, QUIVER_PREFIX.
`,
  async run(args) {
    const { schedulerMain } = await import('../../scheduler/main.js');
    return schedulerMain(args, this.help);
  },
};
