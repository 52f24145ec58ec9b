import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import type { ScheduleRunView } from '../../../schemas/schedule.js';
import type { ApiClient, ScheduleCallOptions } from '../api-client.js';
import {
  type CliContext,
  type Command,
  type FlagsConfig,
  apiFlags,
  apiFlagsHelp,
  clientFor,
  parseCommandArgs,
  watchFlags,
  watchFlagsHelp,
} from '../command.js';
import { ApiRequestError } from '../errors/api-request-error.js';
import { ScheduleExists } from '../errors/schedule-exists.js';
import { UsageError } from '../errors/usage-error.js';
import { type ExitCode, exitCodes } from '../exit-codes.js';
import { type FollowOptions, followJob, followOptionsFrom } from '../follow-job.js';
import { renderTable, writeJson } from '../output.js';
import { makeLineReporter, silentProgress } from '../progress.js';
import {
  describeSchedule,
  runRow,
  runTableHeaders,
  scheduleRow,
  scheduleTableHeaders,
} from '../schedule-text.js';
import { readSpecFile } from '../spec-file.js';
import {
  exitCodeForRuns,
  renderRunsProgress,
  runsChangeKey,
  tallyRuns,
  watchRuns,
} from '../watch-backfill.js';

/** Flags every schedule subcommand takes: the API's, and the tenant an admin key acts for. */
const scheduleFlags = { ...apiFlags, tenant: { type: 'string' } } as const satisfies FlagsConfig;

/** What one subcommand is given: its arguments after the subcommand's name. */
type Subcommand = (args: string[], context: CliContext) => Promise<ExitCode>;

/** The tenant option of the schedule calls, from `--tenant`. */
const scopeOf = (values: { tenant?: string | undefined }): ScheduleCallOptions =>
  values.tenant === undefined ? {} : { tenant: values.tenant };

/** Whether `error` says there is no schedule of that name (404). */
const isNotFound = (error: unknown): boolean => error instanceof ApiRequestError && error.status === 404;

/**
 * `create` and `replace`: the file is checked as a schedule here (every problem with its path, exit 2),
 * then looked up, because the API's POST creates or replaces alike: `create` refuses a name that exists
 * (`SCHEDULE_EXISTS`, exit 1), `replace` one that does not (exit 5).
 */
function saveSubcommand(mode: 'create' | 'replace'): Subcommand {
  return async (args, context) => {
    const { values, positionals } = parseCommandArgs(args, scheduleFlags, {
      min: 1,
      max: 1,
      names: 'schedule file',
    });
    const file = positionals[0]!;
    const definition = await readSpecFile(file, process.stdin, 'a schedule');
    const { name } = parseSchedule(definition);
    const client = clientFor(values, context);
    const scope = scopeOf(values);
    const exists = await client.getSchedule(name, scope).then(
      () => true,
      (error: unknown) => {
        if (mode === 'create' && isNotFound(error)) return false;
        throw error;
      },
    );
    if (mode === 'create' && exists) throw new ScheduleExists(name);
    const { schedule, created } = await client.saveSchedule(definition, scope);
    if (mode === 'create' && !created)
      context.stderr.write(
        `quiver schedule create: schedule ${name} appeared meanwhile; this definition replaced it\n`,
      );
    if (values.json) writeJson(context.stdout, schedule);
    else
      context.stdout.write(
        `schedule ${schedule.name} ${created ? 'created' : 'replaced'}${schedule.paused ? ', paused' : `; next run ${schedule.nextRunAt ?? '--'}`}\n`,
      );
    return exitCodes.ok;
  };
}

const listSubcommand: Subcommand = async (args, context) => {
  const { values } = parseCommandArgs(args, scheduleFlags, { min: 0, max: 0, names: '' });
  const { schedules } = await clientFor(values, context).listSchedules(scopeOf(values));
  if (values.json) writeJson(context.stdout, { schedules });
  else if (schedules.length === 0) context.stderr.write('no schedules\n');
  else context.stdout.write(renderTable(scheduleTableHeaders, schedules.map(scheduleRow)));
  return exitCodes.ok;
};

const getSubcommand: Subcommand = async (args, context) => {
  const { values, positionals } = parseCommandArgs(args, scheduleFlags, {
    min: 1,
    max: 1,
    names: 'schedule name',
  });
  const detail = await clientFor(values, context).getSchedule(positionals[0]!, scopeOf(values));
  if (values.json) writeJson(context.stdout, detail);
  else context.stdout.write(describeSchedule(detail));
  return exitCodes.ok;
};

const deleteSubcommand: Subcommand = async (args, context) => {
  const { values, positionals } = parseCommandArgs(args, scheduleFlags, {
    min: 1,
    max: 1,
    names: 'schedule name',
  });
  const name = positionals[0]!;
  await clientFor(values, context).deleteSchedule(name, scopeOf(values));
  if (values.json) writeJson(context.stdout, { name, deleted: true });
  else context.stdout.write(`schedule ${name} deleted\n`);
  return exitCodes.ok;
};

function pauseSubcommand(paused: boolean): Subcommand {
  return async (args, context) => {
    const { values, positionals } = parseCommandArgs(args, scheduleFlags, {
      min: 1,
      max: 1,
      names: 'schedule name',
    });
    const detail = await clientFor(values, context).setSchedulePaused(
      positionals[0]!,
      paused,
      scopeOf(values),
    );
    if (values.json) writeJson(context.stdout, detail);
    else
      context.stdout.write(
        paused
          ? `schedule ${detail.name} paused (${detail.waitingRuns} runs waiting)\n`
          : `schedule ${detail.name} resumed; next run ${detail.nextRunAt ?? '--'}\n`,
      );
    return exitCodes.ok;
  };
}

const runFlags = {
  ...scheduleFlags,
  ...watchFlags,
  at: { type: 'string' },
  wait: { type: 'boolean', default: false },
} as const;

const runSubcommand: Subcommand = async (args, context) => {
  const { values, positionals } = parseCommandArgs(args, runFlags, {
    min: 1,
    max: 1,
    names: 'schedule name',
  });
  const follow = followOptionsFrom(values);
  const client = clientFor(values, context);
  const job = await client.runSchedule(positionals[0]!, {
    ...scopeOf(values),
    ...(values.at === undefined ? {} : { at: values.at }),
  });
  if (values.wait) {
    if (!values.json) context.stdout.write(`${job.id}\n`);
    return followJob(client, job.id, follow, context);
  }
  if (values.json) writeJson(context.stdout, job);
  else context.stdout.write(`${job.id}\n`);
  return exitCodes.ok;
};

const backfillFlags = {
  ...scheduleFlags,
  ...watchFlags,
  from: { type: 'string' },
  to: { type: 'string' },
  wait: { type: 'boolean', default: false },
} as const;

/** `backfill of nightly: 9 runs (9 new)`. */
const backfillLine = (name: string, runs: number, created: number) =>
  `backfill of ${name}: ${runs} run${runs === 1 ? '' : 's'} (${created} new)`;

/** Follows a backfill's runs to their end with progress on stderr; the exit code by their outcome. */
async function followBackfill(
  client: ApiClient,
  name: string,
  reply: { created: number; runs: ScheduleRunView[] },
  options: FollowOptions & ScheduleCallOptions,
  context: CliContext,
): Promise<ExitCode> {
  const progress = options.quiet
    ? silentProgress
    : makeLineReporter(context.stderr, renderRunsProgress, runsChangeKey);
  let result;
  try {
    result = await watchRuns(client, name, reply.runs, {
      onUpdate: (runs) => progress.update(tallyRuns(runs)),
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      ...(options.intervalSeconds === undefined ? {} : { intervalSeconds: options.intervalSeconds }),
      ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
    });
  } finally {
    progress.end();
  }
  const { runs, timedOut } = result;
  if (options.json) writeJson(context.stdout, { created: reply.created, runs });
  else
    context.stdout.write(
      `${renderTable(runTableHeaders, runs.map(runRow))}${renderRunsProgress(tallyRuns(runs))}\n`,
    );
  if (timedOut) {
    const left = runs.length - tallyRuns(runs).ended;
    context.stderr.write(
      `quiver schedule backfill: ${left} run${left === 1 ? '' : 's'} of ${name} still going after ${options.timeoutSeconds} s (--timeout)\n`,
    );
    return exitCodes.timedOut;
  }
  return exitCodeForRuns(runs);
}

const backfillSubcommand: Subcommand = async (args, context) => {
  const { values, positionals } = parseCommandArgs(args, backfillFlags, {
    min: 1,
    max: 1,
    names: 'schedule name',
  });
  const { from, to } = values;
  if (from === undefined || to === undefined)
    throw new UsageError('backfill needs --from and --to (dates like 2026-11-20, or times)');
  const follow = followOptionsFrom(values);
  const name = positionals[0]!;
  const client = clientFor(values, context);
  const scope = scopeOf(values);
  const reply = await client.backfillSchedule(name, { from, to }, scope);
  if (values.wait) {
    if (!values.json) context.stdout.write(`${backfillLine(name, reply.runs.length, reply.created)}\n`);
    return followBackfill(client, name, reply, { ...follow, ...scope }, context);
  }
  if (values.json) writeJson(context.stdout, reply);
  else
    context.stdout.write(
      `${backfillLine(name, reply.runs.length, reply.created)}\n${renderTable(runTableHeaders, reply.runs.map(runRow))}`,
    );
  return exitCodes.ok;
};

const subcommands: Record<string, Subcommand> = {
  create: saveSubcommand('create'),
  replace: saveSubcommand('replace'),
  list: listSubcommand,
  get: getSubcommand,
  delete: deleteSubcommand,
  run: runSubcommand,
  backfill: backfillSubcommand,
  pause: pauseSubcommand(true),
  resume: pauseSubcommand(false),
};

export const scheduleCommand: Command = {
  name: 'schedule',
  synopsis: 'schedule create|replace|list|get|delete|run|backfill|pause|resume …',
  summary: 'Manage schedules: define them from a file, list, inspect, run now, backfill, pause.',
  help: `Usage: quiver schedule <subcommand> [arguments] [options]

Manages the tenant's schedules through the API (README "Schedules"). Writes need an admin key.

Subcommands:
  create <file>        Define a new schedule from a JSON or YAML file ('-' reads stdin); checked here first
                       (every problem with its field path, exit 2). Exit 1 (SCHEDULE_EXISTS) when a schedule
                       of that name exists.
  replace <file>       Replace an existing schedule's definition (its runs and history kept); exit 5 when
                       there is none of that name.
  list                 Every schedule: name, tenant, cron, zone, state, next run, last run and its job.
  get <name>           Its definition, next five fire times, active and waiting runs, and last 20 runs
                       (logical time, source, status, rows, duration, job).
  delete <name>        Remove it: no more runs; jobs it submitted stay.
  run <name>           Run the latest tick now (--at TIME: the latest tick at or before TIME, or the last
                       of a day); the tick's existing job is returned instead of a second one. Prints the
                       job id; --wait follows it as \`quiver status --watch\` does.
  backfill <name> --from A --to B
                       One run per tick from A to B, both included (dates like 2026-11-20, or times like
                       2026-11-20T02:30 in the schedule's zone, or with Z or an offset); runs start as
                       maxActiveRuns allows. Asking again adds nothing. With --wait: progress over its runs
                       until all end; exit 3 when any failed (or was refused), 4 when any was cancelled.
  pause <name>         Stop its ticks and hold its waiting runs.
  resume <name>        Start ticking again, catching up missed ticks per its catchUp policy.

Options:
  --tenant T           Act for tenant T (admin keys only).
  --at TIME            (run) Which tick: a date or a time, as for backfill.
  --from A, --to B     (backfill) The range, both ends included.
  --wait               (run, backfill) Follow the job or runs to their end and exit with the outcome.
${watchFlagsHelp}

${apiFlagsHelp}

Exit codes: 0 done; 1 the API refused (or SCHEDULE_EXISTS); 2 bad arguments or an invalid schedule;
3 / 4 the followed job or a backfill's run failed / was cancelled; 5 no such schedule; 6 --timeout ran out.

Examples:
  quiver schedule create nightly.yaml
  quiver schedule get nightly-fraud --json
  quiver schedule run nightly-fraud --at 2026-11-20 --wait
  quiver schedule backfill nightly-fraud --from 2026-11-01 --to 2026-11-07 --wait
`,
  async run(args, context) {
    const [name, ...rest] = args;
    const subcommand = name === undefined ? undefined : subcommands[name];
    if (subcommand === undefined)
      throw new UsageError(
        name === undefined
          ? `missing subcommand: one of ${Object.keys(subcommands).join(', ')}`
          : `unknown subcommand ${JSON.stringify(name)}: expected one of ${Object.keys(subcommands).join(', ')}`,
      );
    return subcommand(rest, context);
  },
};
