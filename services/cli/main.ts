import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { DEFAULT_API_URL } from './api-client.js';
import { type CliContext, type Command, wantsHelp } from './command.js';
import { apiCommand } from './commands/api.js';
import { cancelCommand } from './commands/cancel.js';
import { retryCommand } from './commands/retry.js';
import { configCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { inspectModelCommand } from './commands/inspect-model.js';
import { listCommand } from './commands/list.js';
import { reportCommand } from './commands/report.js';
import { resultsCommand } from './commands/results.js';
import { scheduleCommand } from './commands/schedule.js';
import { schedulerCommand } from './commands/scheduler.js';
import { statusCommand } from './commands/status.js';
import { submitCommand } from './commands/submit.js';
import { workerCommand } from './commands/worker.js';
import { ApiRequestError } from './errors/api-request-error.js';
import { UsageError } from './errors/usage-error.js';
import { exitCodeForError, exitCodes } from './exit-codes.js';
import { writeJson } from './output.js';

export { exitCodes } from './exit-codes.js';

/** Every command, in the order `quiver --help` lists them. */
export const commands: readonly Command[] = [
  submitCommand,
  statusCommand,
  listCommand,
  cancelCommand,
  retryCommand,
  resultsCommand,
  reportCommand,
  scheduleCommand,
  apiCommand,
  workerCommand,
  schedulerCommand,
  demoCommand,
  inspectModelCommand,
  configCommand,
];

export const usage = `Usage: quiver <command> [options]     (quiver <command> --help for its options)

Commands:
${commands.map((c) => `  ${c.synopsis}\n      ${c.summary}`).join('\n')}

The job and schedule commands (submit, status, list, cancel, retry, results, report, schedule) talk to the API at QUIVER_API_URL (default
${DEFAULT_API_URL}) with the key in QUIVER_API_KEY; --api-url and --api-key override them. Every command
takes --json for machine-readable output on stdout.

Exit codes:
  ${exitCodes.ok}  success (a watched job succeeded)
  ${exitCodes.error}  error: the API refused the call (auth, conflict, rate limit, 5xx), could not be reached, or a bug
  ${exitCodes.usage}  usage: bad flags or arguments, or an invalid job spec or schedule (every problem printed with its field path)
  ${exitCodes.jobFailed}  the watched job failed (status --watch, submit --wait); a watched backfill: any run failed
  ${exitCodes.jobCancelled}  the watched job was cancelled; a watched backfill: any run cancelled, none failed
  ${exitCodes.notFound}  no such job or schedule
  ${exitCodes.timedOut}  --timeout ran out while watching; the job is still going
  ${exitCodes.jobExpired}  the watched job expired (still queued when its expiresAfterSeconds ran out)

Options:
  -h, --help   Show this help.
`;

/** The real process: its environment, stdout, stderr and the global fetch. */
function processContext(): CliContext {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, fetch };
}

/** The error as `{ error: { code, message, problems? } }`, the API's own error shape. */
function errorBody(error: unknown): { error: { code: string; message: string; problems?: unknown } } {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const problems =
    error instanceof JobSpecInvalid || error instanceof ScheduleInvalid || error instanceof ApiRequestError
      ? error.problems
      : undefined;
  return {
    error: {
      code: typeof code === 'string' ? code : 'INTERNAL',
      message,
      ...(problems && problems.length > 0 ? { problems } : {}),
    },
  };
}

function reportError(name: string, args: readonly string[], error: unknown, context: CliContext): void {
  if (args.includes('--json')) {
    writeJson(context.stderr, errorBody(error));
    return;
  }
  const { code, message } = errorBody(error).error;
  const tagged = message.includes(code) || code === UsageError.code ? message : `${message} [${code}]`;
  const hint = error instanceof UsageError ? `\nRun "quiver ${name} --help" for usage.` : '';
  context.stderr.write(`quiver ${name}: ${tagged}${hint}\n`);
}

/** Runs one CLI invocation; returns the process exit code. Errors print one message naming their code. */
export async function main(argv: string[], context: CliContext = processContext()): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    context.stdout.write(usage);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    context.stderr.write(`quiver: unknown command "${name}"\n\n${usage}`);
    return exitCodes.usage;
  }
  if (wantsHelp(args)) {
    context.stdout.write(command.help);
    return exitCodes.ok;
  }
  try {
    return await command.run(args, context);
  } catch (error) {
    reportError(name, args, error, context);
    return exitCodeForError(error);
  }
}
