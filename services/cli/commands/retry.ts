import {
  type Command,
  apiFlags,
  apiFlagsHelp,
  clientFor,
  parseCommandArgs,
  watchFlags,
  watchFlagsHelp,
} from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { followJob, followOptionsFrom } from '../follow-job.js';
import { writeJson } from '../output.js';

const flags = { ...apiFlags, ...watchFlags, wait: { type: 'boolean', default: false } } as const;

export const retryCommand: Command = {
  name: 'retry',
  synopsis: 'retry <job-id> [--wait]',
  summary: 'Retry a failed or cancelled job: committed chunks are kept, the rest scored again.',
  help: `Usage: quiver retry <job-id> [options]

Asks the API for another attempt of a failed or cancelled job: same id, same output folder; chunks already
committed with the same spec, model and inputs are kept and only the rest are scored. Prints the job's id
and attempt (the job as JSON with --json). Exits 5 when there is no such job, 1 when the API refuses: the job
is in another state (JOB_NOT_RETRYABLE), its model or an input it read changed since (RETRY_MODEL_CHANGED,
RETRY_INPUT_CHANGED), or the tenant is at its active-job limit.

Options:
  --wait                Follow the new attempt to its end, as \`quiver status --watch\`, and exit with its outcome.
${watchFlagsHelp}

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, flags, { min: 1, max: 1, names: 'job id' });
    // Reject a bad flag before anything is sent (the watch flags are only read with --wait).
    const follow = followOptionsFrom(values);
    const client = clientFor(values, context);
    const job = await client.retryJob(positionals[0]!);
    if (values.wait) {
      if (!values.json) context.stdout.write(`job ${job.id} attempt ${job.attempts ?? 1} ${job.status}\n`);
      return followJob(client, job.id, follow, context);
    }
    if (values.json) writeJson(context.stdout, job);
    else context.stdout.write(`job ${job.id} attempt ${job.attempts ?? 1} ${job.status}\n`);
    return exitCodes.ok;
  },
};
