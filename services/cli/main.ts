import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ValueInfo } from '../scoring/inference-host.js';
import { openModel } from '../scoring/open-scorer.js';
import { makeStorage, storageConfigFromEnv } from '../storage/make-storage.js';
import { workerMain } from '../worker/main.js';

/** Exit codes scripts can rely on. */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;

const usage = `Usage: quiver <command> [options]

Commands:
  inspect-model <uri> [--sha256 HEX] [--json]
      Fetch an ONNX model (s3://, file:// or a path), verify its digest when given, and print its inputs
      and outputs (names, element types, shapes; symbolic dimensions by name).
  worker [--devices cpu|all|gpu:0,1] [--grace-seconds N] [--spot-notice-url aws|off|URL]
      Score chunks from the queues until stopped; one process per device (default cpu). The first
      SIGTERM/SIGINT or a spot interruption notice drains (the chunk in hand finishes within the grace,
      default 90 s); a second signal exits at once. Environment: QUIVER_DEVICES,
      QUIVER_SHUTDOWN_GRACE_SECONDS, QUIVER_SPOT_NOTICE_URL, QUIVER_SPOT_POLL_SECONDS (5),
      QUIVER_LOCK_SECONDS (30), QUIVER_CHECKPOINT_SECONDS (30), QUIVER_MODEL_CACHE, QUIVER_TUNING_CACHE,
      plus Redis and S3 settings.

Options:
  -h, --help   Show this help.
`;

function describeValue(value: ValueInfo): string {
  if (!value.isTensor) return `${value.name}: not a tensor (e.g. a ZipMap sequence of maps)`;
  return `${value.name}: ${value.type} [${value.shape.join(', ')}]`;
}

async function inspectModel(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sha256: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1) {
    process.stderr.write(usage);
    return values.help ? exitCodes.ok : exitCodes.usage;
  }
  const storage = makeStorage(storageConfigFromEnv());
  try {
    const cacheDir = process.env.QUIVER_MODEL_CACHE ?? join(tmpdir(), 'quiver-models');
    const spec = values.sha256 ? { uri: positionals[0]!, sha256: values.sha256 } : { uri: positionals[0]! };
    const { model, host } = await openModel(storage, spec, { cacheDir, intraOpThreads: 1 });
    try {
      const report = { uri: model.uri, sha256: model.sha256, bytes: model.bytes, ...host.metadata };
      if (values.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
      } else {
        process.stdout.write(
          [
            `model   ${report.uri}`,
            `sha256  ${report.sha256} (${report.bytes} bytes)`,
            'inputs',
            ...report.inputs.map((v) => `  ${describeValue(v)}`),
            'outputs',
            ...report.outputs.map((v) => `  ${describeValue(v)}`),
            '',
          ].join('\n'),
        );
      }
    } finally {
      await host.close();
    }
    return exitCodes.ok;
  } finally {
    storage.close();
  }
}

/** Runs one CLI invocation; returns the process exit code. Errors print one line naming their code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'inspect-model':
        return await inspectModel(rest);
      case 'worker':
        return await workerMain(rest, usage);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(usage);
        return command === undefined ? exitCodes.usage : exitCodes.ok;
      default:
        process.stderr.write(`quiver: unknown command "${command}"\n\n${usage}`);
        return exitCodes.usage;
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    process.stderr.write(
      `quiver ${command}: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' && !(error as Error).message.includes(code) ? ` [${code}]` : ''}\n`,
    );
    return exitCodes.failed;
  }
}
