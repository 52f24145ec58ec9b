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

const pad = (index: number): string => String(index).padStart(5, '0');
const padRow = (row: number): string => String(row).padStart(12, '0');

/**
 * Where job `jobId` writes under the user's `output.uri`. Every name an attempt writes carries the
 * attempt's id, so no two attempts of a chunk ever write under one name (DESIGN invariant 7): a zombie
 * attempt that wakes up late can only add objects nothing references, which finalize then deletes. Readers
 * find the parts through `_manifest.json`, never by listing.
 */
export function outputLayout(outputUri: string, jobId: string, format: OutputFormat) {
  const root = join(outputUri, jobId);
  /** `<i>-<attempt>` and, past a chunk's first segment, `-r<rowStart>`. */
  const stem = (index: number, attempt: string, rowStart: number): string =>
    `part-${pad(index)}-${attempt}${rowStart === 0 ? '' : `-r${padRow(rowStart)}`}`;
  return {
    root,
    /** Segment of chunk `index` written by `attempt`, starting at stream row `rowStart`. */
    segmentPart: (index: number, attempt: string, rowStart: number): string =>
      join(root, `${stem(index, attempt, rowStart)}${extensions[format]}`),
    segmentRejected: (index: number, attempt: string, rowStart: number): string =>
      join(root, `rejected/${stem(index, attempt, rowStart)}.jsonl`),
    /** Checkpoint markers of chunk `index`: one per segment an attempt wrote. */
    segments: (index: number): string => join(root, `_segments/part-${pad(index)}/`),
    segmentMarker: (index: number, ref: string): string =>
      join(root, `_segments/part-${pad(index)}/${ref}.json`),
    /** Written when an attempt has scored its whole chunk; finalize reads only the one Redis accepted. */
    commit: (index: number, attempt: string): string =>
      join(root, `_commits/part-${pad(index)}-${attempt}.json`),
    commits: join(root, '_commits/'),
    manifest: join(root, '_manifest.json'),
    success: join(root, '_SUCCESS'),
  };
}

export type OutputLayout = ReturnType<typeof outputLayout>;

/** A segment's reference as Redis keeps it in the chunk's accepted chain: `<rowStart, padded>-<attempt>`. */
export function segmentRef(rowStart: number, attempt: string): string {
  return `${padRow(rowStart)}-${attempt}`;
}
