import type { OutputFormat } from '../schemas/chunk-descriptor.js';

const extensions: Record<OutputFormat, string> = {
  parquet: '.parquet',
  arrow: '.arrow',
  csv: '.csv',
  jsonl: '.jsonl',
};

function join(base: string, name: string): string {
  return `${base.replace(/\/+$/, '')}/${name}`;
}

/**
 * Where job `jobId` writes under the user's `output.uri`. Names are a pure function of the job id and the
 * chunk index, so a rerun of a chunk overwrites the same object with the same rows (DESIGN invariant 2).
 */
export function outputLayout(outputUri: string, jobId: string, format: OutputFormat) {
  const root = join(outputUri, jobId);
  const pad = (index: number): string => String(index).padStart(5, '0');
  return {
    root,
    part: (index: number): string => join(root, `part-${pad(index)}${extensions[format]}`),
    rejected: (index: number): string => join(root, `rejected/part-${pad(index)}.jsonl`),
    /** Written after a part is complete: the durable proof that chunk `index` is done (invariant 3). */
    commit: (index: number): string => join(root, `_commits/part-${pad(index)}.json`),
    commits: join(root, '_commits/'),
    manifest: join(root, '_manifest.json'),
    success: join(root, '_SUCCESS'),
  };
}

export type OutputLayout = ReturnType<typeof outputLayout>;

/** What a chunk commit records in storage: enough for the manifest and to skip the chunk on resubmission. */
export interface ChunkCommit {
  index: number;
  part: string;
  rows: number;
  rejected: number;
  rejectedUri?: string;
  bytes: number;
  specDigest: string;
  modelSha256: string;
  seconds: number;
}
