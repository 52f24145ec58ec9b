import { type ConfigProcess, configProcesses, explainConfig } from '../../../schemas/config.js';
import { type Command, parseCommandArgs } from '../command.js';
import { UsageError } from '../errors/usage-error.js';
import { exitCodes } from '../exit-codes.js';
import { renderTable, writeJson } from '../output.js';

const flags = {
  process: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

function processOf(text: string): ConfigProcess {
  const process = configProcesses.find((p) => p === text);
  if (process === undefined)
    throw new UsageError(
      `--process: expected one of ${configProcesses.join(', ')}, got ${JSON.stringify(text)}`,
    );
  return process;
}

export const configCommand: Command = {
  name: 'config',
  synopsis: 'config [--process api|worker|scheduler|cli]',
  summary: 'Print the effective configuration: each QUIVER_* variable, its value and where it came from.',
  help: `Usage: quiver config [--process api|worker|scheduler|cli] [--json]

Reads the environment the way the process would at start and prints every QUIVER_* variable it reads, its
value and its source: env, default, or unset (then the value shown is what the process falls back to, if
anything); secrets print as ****. Without --process, every process in
turn. An unusable value exits 1 naming the variable and the reason, as the process would (CONFIG_INVALID).

  --process P   api, worker, scheduler or cli (the job commands).
  --json        One JSON array of {process, name, value, source} on stdout.
  -h, --help    Show this help.
`,
  run(args, context) {
    const { values } = parseCommandArgs(args, flags, { min: 0, max: 0, names: '' });
    const processes = values.process === undefined ? configProcesses : [processOf(values.process)];
    const rows = processes.flatMap((process) =>
      explainConfig(context.env, process).map((shown) => ({ process, ...shown })),
    );
    if (values.json) writeJson(context.stdout, rows);
    else {
      const headers = ['VARIABLE', 'VALUE', 'SOURCE'];
      const cells = (r: (typeof rows)[number]) => [r.name, r.value, r.source];
      context.stdout.write(
        processes.length === 1
          ? renderTable(headers, rows.map(cells))
          : renderTable(
              ['PROCESS', ...headers],
              rows.map((r) => [r.process, ...cells(r)]),
            ),
      );
    }
    return Promise.resolve(exitCodes.ok);
  },
};
