import { parseJobSpec } from '../../../schemas/job-spec.js';
import {
  type Command,
  apiFlags,
  apiFlagsHelp,
  clientFor,
  parseCommandArgs,
  watchFlags,
  watchFlagsHelp,
} from '../command.js';
import { UsageError } from '../errors/usage-error.js';
import { exitCodes } from '../exit-codes.js';
import { followJob, followOptionsFrom } from '../follow-job.js';
import { writeJson } from '../output.js';
import { readSpecFile } from '../spec-file.js';
import { hasSpecFlags, specFlags, specFlagsHelp, specFromFlags } from '../spec-from-flags.js';

const flags = {
  ...apiFlags,
  ...watchFlags,
  ...specFlags,
  'idempotency-key': { type: 'string' },
  wait: { type: 'boolean', default: false },
} as const;

export const submitCommand: Command = {
  name: 'submit',
  synopsis: 'submit [spec.json|spec.yaml|-] [spec flags] [--wait] [--idempotency-key K]',
  summary: 'Submit a scoring job; print its id (or follow it to the end with --wait).',
  help: `Usage: quiver submit [spec.json|spec.yaml|-] [options]

Submits a scoring job and prints its id on stdout (the job as JSON with --json). The spec (DESIGN.md
"Public contract") comes from a JSON or YAML file ('-' reads stdin), from flags, or from both: flags override
the file's fields, so one file can serve every night with --input changed. The spec is checked before it is
sent; every problem is printed with its field path (exit 2).

Options:
  --idempotency-key K   Same key + same spec → the same job (safe to retry); same key + another spec → 409.
  --wait                Follow the job to its end, as \`quiver status --watch\`, and exit with its outcome.
${watchFlagsHelp}

${specFlagsHelp}

${apiFlagsHelp}

Examples:
  quiver submit nightly.yaml --input s3://events/dt=2026-11-28/ --idempotency-key nightly-2026-11-28
  quiver submit --input file:///data/events.parquet --format parquet --model file:///models/fraud.onnx \\
      --columns f0,f1,f2 --score-column fraud_score --output file:///scores/ --passthrough event_id --wait
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, flags, { min: 0, max: 1, names: 'spec file' });
    const [file] = positionals;
    if (file === undefined && !hasSpecFlags(values))
      throw new UsageError('give a spec file, or at least --input, --format, --model and --output');
    const spec = specFromFlags(file === undefined ? undefined : await readSpecFile(file), values);
    // Checked here so every problem is printed with its field path before anything is sent.
    parseJobSpec(spec);
    // Reject a bad flag before anything is sent (the watch flags are only read with --wait).
    const follow = followOptionsFrom(values);
    const client = clientFor(values, context);
    const idempotencyKey = values['idempotency-key'];
    const { job, created } = await client.submitJob(spec, idempotencyKey ? { idempotencyKey } : {});
    if (!created)
      context.stderr.write(
        `quiver submit: the idempotency key names existing job ${job.id} (${job.status})\n`,
      );
    if (values.wait) {
      if (!values.json) context.stdout.write(`${job.id}\n`);
      return followJob(client, job.id, follow, context);
    }
    if (values.json) writeJson(context.stdout, job);
    else context.stdout.write(`${job.id}\n`);
    return exitCodes.ok;
  },
};
