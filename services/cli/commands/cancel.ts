import { type Command, apiFlags, apiFlagsHelp, clientFor, parseCommandArgs } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { writeJson } from '../output.js';

export const cancelCommand: Command = {
  name: 'cancel',
  synopsis: 'cancel <job-id>',
  summary: 'Cancel a job: no new chunks start; chunks in hand finish, then it is cancelled.',
  help: `Usage: quiver cancel <job-id> [options]

Asks the API to cancel a job and prints its new status (the job as JSON with --json). The job passes through
\`cancelling\` while chunks in hand finish; \`quiver status <id> --watch\` follows it to \`cancelled\` (exit 4).
Exits 5 when there is no such job, 1 when the API refuses (e.g. the job has already ended).

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, apiFlags, { min: 1, max: 1, names: 'job id' });
    const job = await clientFor(values, context).cancelJob(positionals[0]!);
    if (values.json) writeJson(context.stdout, job);
    else context.stdout.write(`job ${job.id} ${job.status}\n`);
    return exitCodes.ok;
  },
};
