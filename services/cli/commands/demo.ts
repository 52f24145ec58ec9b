import { type Command, parseCommandArgs, parseNumber } from '../command.js';
import { exitCodes } from '../exit-codes.js';

const flags = {
  rows: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const demoCommand: Command = {
  name: 'demo',
  synopsis: 'demo [--rows N]',
  summary: 'Run a complete scoring job on generated data and a generated model (same as npm run demo).',
  help: `Usage: quiver demo [--rows N]

Runs a complete scoring job in this process, as \`npm run demo\` does: generates a Parquet dataset (N rows ×
64 float features, default 1,000,000) and a 64 → 256 → 1 MLP, starts the pipeline against a Redis
(QUIVER_REDIS_URL, else one on 127.0.0.1:6379 under its own key prefix, else a private redis-server), scores
the dataset into local files with live progress, and prints the manifest's location and a few scored rows.
Model generation needs python3-onnx and python3-numpy.
`,
  async run(args) {
    const { values } = parseCommandArgs(args, flags, { min: 0, max: 0, names: '' });
    const rows =
      values.rows === undefined ? undefined : parseNumber('--rows', values.rows, { integer: true, min: 1 });
    const { runDemo } = await import('../../../scripts/lib/demo-job.js');
    await runDemo(rows === undefined ? {} : { rows });
    return exitCodes.ok;
  },
};
