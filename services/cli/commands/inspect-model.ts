import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfig } from '../../../schemas/config.js';
import type { ValueInfo } from '../../scoring/inference-host.js';
import { type Command, parseCommandArgs } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { writeJson } from '../output.js';

const flags = {
  sha256: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

function describeValue(value: ValueInfo): string {
  if (!value.isTensor) return `${value.name}: not a tensor (e.g. a ZipMap sequence of maps)`;
  return `${value.name}: ${value.type} [${value.shape.join(', ')}]`;
}

export const inspectModelCommand: Command = {
  name: 'inspect-model',
  synopsis: 'inspect-model <uri> [--sha256 HEX]',
  summary: "Print an ONNX model's inputs and outputs (names, element types, shapes).",
  help: `Usage: quiver inspect-model <uri> [--sha256 HEX] [--json]

Fetches an ONNX model (s3://, file:// or a path), verifies its digest when --sha256 is given, and prints its
inputs and outputs: names, element types, shapes (symbolic dimensions by name). Use it to write a spec's
model.inputs / model.outputs. Exits 1 naming the code (MODEL_INVALID, MODEL_DIGEST_MISMATCH, …).

Environment: QUIVER_MODEL_CACHE (default <tmp>/quiver-models), plus the S3 settings.
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, flags, { min: 1, max: 1, names: 'model URI' });
    // Loaded here: ONNX Runtime and the S3 SDK are heavy, and only this command needs them.
    const { openModel } = await import('../../scoring/open-scorer.js');
    const { makeStorage, storageConfigFromEnv } = await import('../../storage/make-storage.js');
    const storage = makeStorage(storageConfigFromEnv(context.env));
    try {
      const cacheDir =
        readConfig(context.env, ['QUIVER_MODEL_CACHE']).QUIVER_MODEL_CACHE ?? join(tmpdir(), 'quiver-models');
      const uri = positionals[0]!;
      const spec = values.sha256 ? { uri, sha256: values.sha256 } : { uri };
      const { model, host } = await openModel(storage, spec, { cacheDir, intraOpThreads: 1 });
      try {
        const report = { uri: model.uri, sha256: model.sha256, bytes: model.bytes, ...host.metadata };
        if (values.json) {
          writeJson(context.stdout, report);
        } else {
          context.stdout.write(
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
  },
};
