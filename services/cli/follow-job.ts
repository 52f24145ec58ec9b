import type { ApiClient } from './api-client.js';
import type { CliContext } from './command.js';
import { parseNumber } from './command.js';
import { type ExitCode, exitCodeForStatus, exitCodes } from './exit-codes.js';
import { summarizeOutcome } from './job-text.js';
import { writeJson } from './output.js';
import { makeProgressReporter, silentProgress } from './progress.js';
import { watchJob } from './watch-job.js';

/** How `submit --wait` and `status --watch` follow a job, from their flags. */
export interface FollowOptions {
  json: boolean;
  /** No progress lines on stderr. */
  quiet: boolean;
  intervalSeconds?: number;
  timeoutSeconds?: number;
}

/** {@link FollowOptions} from the `watchFlags` values, checked. */
export function followOptionsFrom(values: {
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  interval?: string | undefined;
  timeout?: string | undefined;
}): FollowOptions {
  return {
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    ...(values.interval === undefined
      ? {}
      : { intervalSeconds: parseNumber('--interval', values.interval, { min: 0.1, max: 60 }) }),
    ...(values.timeout === undefined
      ? {}
      : { timeoutSeconds: parseNumber('--timeout', values.timeout, { min: 0 }) }),
  };
}

/**
 * Watches job `id` to its end with progress on stderr, then prints the final state (a summary line, or the
 * job as JSON) on stdout. Returns the job's outcome as an exit code: 0 succeeded, 3 failed, 4 cancelled,
 * 6 when `--timeout` ran out first.
 */
export async function followJob(
  client: ApiClient,
  id: string,
  options: FollowOptions,
  context: CliContext,
): Promise<ExitCode> {
  const progress = options.quiet ? silentProgress : makeProgressReporter(context.stderr);
  let result;
  try {
    result = await watchJob(client, id, {
      onUpdate: (job) => progress.update(job),
      ...(options.intervalSeconds === undefined ? {} : { intervalSeconds: options.intervalSeconds }),
      ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
    });
  } finally {
    progress.end();
  }
  const { job, timedOut } = result;
  if (options.json) writeJson(context.stdout, job);
  else context.stdout.write(`${summarizeOutcome(job)}\n`);
  if (timedOut) {
    context.stderr.write(
      `quiver: job ${id} still ${job.status} after ${options.timeoutSeconds} s (--timeout)\n`,
    );
    return exitCodes.timedOut;
  }
  return exitCodeForStatus(job.status);
}
