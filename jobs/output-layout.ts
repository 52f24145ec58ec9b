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
    /**
     * Segment of chunk `index` starting at stream row `rowStart`: the chunk's own part name for its first
     * segment, so a chunk scored in one go has exactly `part-<i>`; a resumed chunk adds `-r<rowStart>`.
     */
    segmentPart: (index: number, rowStart: number): string =>
      join(
        root,
        `part-${pad(index)}${rowStart === 0 ? '' : `-r${String(rowStart).padStart(12, '0')}`}${extensions[format]}`,
      ),
    segmentRejected: (index: number, rowStart: number): string =>
      join(
        root,
        `rejected/part-${pad(index)}${rowStart === 0 ? '' : `-r${String(rowStart).padStart(12, '0')}`}.jsonl`,
      ),
    /** Checkpoints of chunk `index`: one marker per committed segment. */
    segments: (index: number): string => join(root, `_segments/part-${pad(index)}/`),
    segmentMarker: (index: number, rowStart: number): string =>
      join(root, `_segments/part-${pad(index)}/${String(rowStart).padStart(12, '0')}.json`),
    /** Written after a part is complete: the durable proof that chunk `index` is done (invariant 3). */
    commit: (index: number): string => join(root, `_commits/part-${pad(index)}.json`),
    commits: join(root, '_commits/'),
    manifest: join(root, '_manifest.json'),
    success: join(root, '_SUCCESS'),
  };
}

export type OutputLayout = ReturnType<typeof outputLayout>;

/** One checkpoint of a chunk: input stream rows `[rowStart, rowEnd)` scored into `part`. */
export interface SegmentCommit {
  rowStart: number;
  rowEnd: number;
  part: string;
  rows: number;
  rejected: number;
  rejectedUri?: string;
  bytes: number;
  specDigest: string;
}

/** What a chunk commit records in storage: enough for the manifest and to skip the chunk on resubmission. */
export interface ChunkCommit {
  index: number;
  /** The chunk's parts in row order: one unless the chunk was resumed from a checkpoint. */
  segments: SegmentCommit[];
  rows: number;
  rejected: number;
  bytes: number;
  specDigest: string;
  modelSha256: string;
  seconds: number;
}
