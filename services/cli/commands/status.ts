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
import { describeJob } from '../job-text.js';
import { writeJson } from '../output.js';

const flags = { ...apiFlags, ...watchFlags, watch: { type: 'boolean', short: 'w', default: false } } as const;

export const statusCommand: Command = {
  name: 'status',
  synopsis: 'status <job-id> [--watch]',
  summary: "Show a job's status and progress; --watch follows it to the end with a progress bar.",
  help: `Usage: quiver status <job-id> [--watch] [options]

Shows a job: status, progress (chunks, rows, rows/s, ETA), error, timestamps, input, model and output (the
job as JSON with --json). Exits 0 whatever the job's state, 5 when there is no such job.

  -w, --watch     Follow the job until it succeeds, fails or is cancelled (long-polling the API), then
                  print its final state and exit with its outcome: 0 succeeded, 3 failed, 4 cancelled.
${watchFlagsHelp}

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, flags, { min: 1, max: 1, names: 'job id' });
    const id = positionals[0]!;
    const follow = followOptionsFrom(values);
    const client = clientFor(values, context);
    if (values.watch) return followJob(client, id, follow, context);
    const job = await client.getJob(id);
    if (values.json) writeJson(context.stdout, job);
    else context.stdout.write(describeJob(job));
    return exitCodes.ok;
  },
};
