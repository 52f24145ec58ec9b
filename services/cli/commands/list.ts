import { jobStatusSchema, type JobStatus, type JobView } from '../../../schemas/job-record.js';
import {
  type Command,
  apiFlags,
  apiFlagsHelp,
  clientFor,
  parseCommandArgs,
  parseNumber,
} from '../command.js';
import { UsageError } from '../errors/usage-error.js';
import { exitCodes } from '../exit-codes.js';
import { formatCount, renderTable, writeJson } from '../output.js';
import { parseLabel } from '../spec-from-flags.js';

const flags = {
  ...apiFlags,
  status: { type: 'string' },
  label: { type: 'string', multiple: true },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean', default: false },
} as const;

function parseStatus(text: string): JobStatus {
  const parsed = jobStatusSchema.safeParse(text);
  if (!parsed.success)
    throw new UsageError(
      `--status: expected one of ${jobStatusSchema.options.join(', ')}, got ${JSON.stringify(text)}`,
    );
  return parsed.data;
}

/** The table row of one job. */
export function jobRow(job: JobView): string[] {
  const p = job.progress;
  return [
    job.id,
    job.status,
    job.spec.name ?? '',
    `${p.chunksDone}/${p.chunksTotal}`,
    formatCount(p.rowsScored),
    job.createdAt,
  ];
}

export const listCommand: Command = {
  name: 'list',
  synopsis: 'list [--status S] [--label k=v] [--limit N] [--all]',
  summary: "List the tenant's jobs, newest first, as a table (or JSON).",
  help: `Usage: quiver list [options]

Lists the tenant's jobs, newest first: id, status, name, chunks done, rows scored, created. With --json,
prints the API's page: {"jobs":[…],"nextCursor":…}.

  --status S      Only jobs in this status: ${jobStatusSchema.options.join(', ')}.
  --label k=v     Only jobs carrying this label (repeatable: all must match; k:v works too).
  --limit N       Jobs per page, 1–100 (default 20).
  --cursor C      The page after the one that returned nextCursor C.
  --all           Every page (--limit sets the page size); JSON then holds every job and nextCursor null.

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values } = parseCommandArgs(args, flags, { min: 0, max: 0, names: '' });
    const labels = (values.label ?? []).map((text) => parseLabel('--label', text).join(':'));
    const query = {
      ...(values.status === undefined ? {} : { status: parseStatus(values.status) }),
      ...(labels.length > 0 ? { labels } : {}),
      ...(values.limit === undefined
        ? {}
        : { limit: parseNumber('--limit', values.limit, { integer: true, min: 1, max: 100 }) }),
    };
    const client = clientFor(values, context);
    const jobs: JobView[] = [];
    let cursor = values.cursor;
    let nextCursor: string | null;
    do {
      const page = await client.listJobs({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      jobs.push(...page.jobs);
      nextCursor = page.nextCursor;
      cursor = nextCursor ?? undefined;
    } while (values.all && nextCursor !== null);

    if (values.json) {
      writeJson(context.stdout, { jobs, nextCursor });
      return exitCodes.ok;
    }
    if (jobs.length === 0) context.stderr.write('no jobs\n');
    else
      context.stdout.write(
        renderTable(['ID', 'STATUS', 'NAME', 'CHUNKS', 'ROWS', 'CREATED'], jobs.map(jobRow)),
      );
    if (nextCursor !== null) context.stderr.write(`more jobs: --cursor ${nextCursor} (or --all)\n`);
    return exitCodes.ok;
  },
};
