import { resolve } from 'node:path';
import type { JobResults } from '../../../schemas/api.js';
import { type Command, apiFlags, apiFlagsHelp, clientFor, parseCommandArgs } from '../command.js';
import { type DownloadedFile, downloadResults } from '../download-results.js';
import { exitCodes } from '../exit-codes.js';
import { formatBytes, formatCount, renderTable, writeJson } from '../output.js';

const flags = { ...apiFlags, download: { type: 'string' } } as const;

/** The manifest in a few lines, then one row per part: rows, bytes, and where to fetch it. */
export function describeResults(results: JobResults): string {
  const m = results.manifest;
  const bytesOf = new Map(m.parts.map((p) => [p.index, p.bytes]));
  const totalBytes = m.parts.reduce((sum, p) => sum + p.bytes, 0);
  const head = [
    `job       ${results.jobId}${m.name ? ` (${m.name})` : ''}`,
    `manifest  ${results.manifestUri}`,
    `rows      ${formatCount(m.rowsScored)} scored, ${formatCount(m.rowsRejected)} rejected, ${formatCount(m.inputRows)} read`,
    `output    ${m.parts.length} ${m.format} part${m.parts.length === 1 ? '' : 's'}, ${formatBytes(totalBytes)}`,
    ...(m.modelSha256 ? [`model     sha256 ${m.modelSha256}`] : []),
    ...(results.urlsExpireAt ? [`urls      expire ${results.urlsExpireAt}`] : []),
  ].map((line) => `${line}\n`);
  const rows = [
    ...results.parts.map((p) => [
      'part',
      String(p.index),
      formatCount(p.rows),
      formatBytes(bytesOf.get(p.index) ?? 0),
      p.url ?? p.uri,
    ]),
    ...results.rejected.map((r) => ['rejected', String(r.index), formatCount(r.rows), '', r.url ?? r.uri]),
  ];
  return `${head.join('')}\n${renderTable(['KIND', 'INDEX', 'ROWS', 'SIZE', 'LOCATION'], rows)}`;
}

export const resultsCommand: Command = {
  name: 'results',
  synopsis: 'results <job-id> [--download DIR]',
  summary: "Show a succeeded job's manifest and result URLs; --download fetches and checks every part.",
  help: `Usage: quiver results <job-id> [--download DIR] [options]

Prints a succeeded job's manifest summary (rows scored and rejected, parts, sizes) and where each part is:
a presigned URL for s3:// outputs, the file:// URI otherwise. With --json, prints the API's results body
(with "downloaded": [{uri, path, bytes}] after --download).

  --download DIR  Fetch every part into DIR (presigned URLs fetched, file:// parts copied), check each size
                  against the manifest, put rejected files under DIR/rejected/, and write DIR/_manifest.json
                  last. A size or SHA-256 mismatch fails with DOWNLOAD_SIZE_MISMATCH or DOWNLOAD_CHECKSUM_MISMATCH (exit 1).

Exits 5 when there is no such job, 1 when it has no results (not succeeded).

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, flags, { min: 1, max: 1, names: 'job id' });
    const results = await clientFor(values, context).getResults(positionals[0]!);
    let downloaded: DownloadedFile[] | undefined;
    if (values.download !== undefined) {
      const dir = resolve(values.download);
      downloaded = await downloadResults(results, dir, { fetch: context.fetch });
      if (!values.json) {
        const total = downloaded.reduce((sum, f) => sum + f.bytes, 0);
        context.stderr.write(`downloaded ${downloaded.length} files (${formatBytes(total)}) to ${dir}\n`);
      }
    }
    if (values.json) writeJson(context.stdout, downloaded ? { ...results, downloaded } : results);
    else context.stdout.write(describeResults(results));
    return exitCodes.ok;
  },
};
