import type { OutputFormat } from '../schemas/chunk-descriptor.js';
import type { JobOutput, OutputLayoutMode } from '../schemas/job-spec.js';
import { joinUri } from './ports/storage-uri.js';

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

/** The layout a job's output uses: `output.layout`, `job` when not given. */
export function outputLayoutModeOf(output: Pick<JobOutput, 'layout'>): OutputLayoutMode {
  return output.layout ?? 'job';
}

/**
 * The folder every object of job `jobId` lies under, as its record's `output.uri` says: `<uri>/<jobId>/`
 * in the `job` layout, `<uri>/` itself in the `exact` layout.
 */
export function jobOutputRoot(output: Pick<JobOutput, 'uri' | 'layout'>, jobId: string): string {
  const base = output.uri.replace(/\/+$/, '');
  return outputLayoutModeOf(output) === 'exact' ? `${base}/` : `${base}/${jobId}/`;
}

/** A part's name as every attempt writes it, directly or in `key=value/` partition folders. */
const PART = String.raw`(?:[^/=]+=[^/]*/)*part-\d{5}-[0-9a-z]{6,32}(?:-r\d{12})?\.(?:parquet|arrow|csv|jsonl)`;

/**
 * What a sweep may delete besides what the accepted commits name: objects only Quiver writes there. In a
 * job's folder (`job` layout): parts, `rejected/`, `_segments/`, `_commits/` — so a folder inside it that
 * is not Quiver's (another job's `<uri>/<id>/` whose `output.uri` is this folder) is left alone. At an
 * `exact` location: parts, `_rejected/` and `_quiver/` (every run's bookkeeping); a user's own files and
 * `job`-layout folders there are never touched.
 */
const OWNED = {
  job: new RegExp(`^(?:${PART}|rejected/.*|_segments/.*|_commits/.*)$`),
  exact: new RegExp(`^(?:${PART}|_rejected/.*|_quiver/.*)$`),
};

/**
 * Where job `jobId` writes under the user's `output.uri`. Every name an attempt writes carries the
 * attempt's id, so no two attempts of a chunk ever write under one name (DESIGN invariant 7): a zombie
 * attempt that wakes up late can only add objects nothing references, which finalize then deletes. Readers
 * find the parts through `_manifest.json`, never by listing.
 *
 * `job` layout (the default): everything under `<uri>/<jobId>/`. `exact` layout: parts, `_manifest.json`,
 * `_SUCCESS` and `_rejected/` directly under `<uri>/`, the job's own bookkeeping (`_commits/`,
 * `_segments/`) under `<uri>/_quiver/<jobId>/`, so runs of one location never share a name.
 */
export function outputLayout(
  outputUri: string,
  jobId: string,
  format: OutputFormat,
  mode: OutputLayoutMode = 'job',
) {
  const root = mode === 'exact' ? outputUri.replace(/\/+$/, '') : join(outputUri, jobId);
  /** Where the job's commit and segment markers live: its own folder, whatever the layout. */
  const own = mode === 'exact' ? join(root, `_quiver/${jobId}`) : root;
  const rejected = join(root, mode === 'exact' ? '_rejected/' : 'rejected/');
  /** `<i>-<attempt>` and, past a chunk's first segment, `-r<rowStart>`. */
  const stem = (index: number, attempt: string, rowStart: number): string =>
    `part-${pad(index)}-${attempt}${rowStart === 0 ? '' : `-r${padRow(rowStart)}`}`;
  return {
    mode,
    root,
    /** The folder of refused-rows files, with its trailing `/`. */
    rejected,
    /**
     * Segment of chunk `index` written by `attempt`, starting at stream row `rowStart`; with `partition`
     * (a `key=value/…/` folder from `partitionFolder`), that partition's file of the segment.
     */
    segmentPart: (index: number, attempt: string, rowStart: number, partition?: string): string => {
      const name = `${stem(index, attempt, rowStart)}${extensions[format]}`;
      // joinUri: a file:// location's folder names must be percent-encoded as the listing spells them.
      return partition === undefined ? join(root, name) : joinUri(`${root}/`, `${partition}${name}`);
    },
    segmentRejected: (index: number, attempt: string, rowStart: number): string =>
      `${rejected}${stem(index, attempt, rowStart)}.jsonl`,
    /** Checkpoint markers of chunk `index`: one per segment an attempt wrote. */
    segments: (index: number): string => join(own, `_segments/part-${pad(index)}/`),
    segmentMarker: (index: number, ref: string): string =>
      join(own, `_segments/part-${pad(index)}/${ref}.json`),
    /** Written when an attempt has scored its whole chunk; finalize reads only the one Redis accepted. */
    commit: (index: number, attempt: string): string =>
      join(own, `_commits/part-${pad(index)}-${attempt}.json`),
    commits: join(own, '_commits/'),
    manifest: join(root, '_manifest.json'),
    success: join(root, '_SUCCESS'),
    /** The run report (`schemas/run-report.ts`): written by finalize before the manifest. */
    report: join(root, '_report.json'),
    /** Whether a sweep of this layout may delete `uri` when nothing accepted names it ({@link OWNED}). */
    sweepable: (uri: string): boolean =>
      uri.startsWith(`${root}/`) && OWNED[mode].test(uri.slice(root.length + 1)),
  };
}

export type OutputLayout = ReturnType<typeof outputLayout>;

/** The layout of a job's output as its spec says (`output.uri`, `output.format`, `output.layout`). */
export function jobOutputLayout(
  output: Pick<JobOutput, 'uri' | 'format' | 'layout'>,
  jobId: string,
): OutputLayout {
  return outputLayout(output.uri, jobId, output.format, outputLayoutModeOf(output));
}

/** A segment's reference as Redis keeps it in the chunk's accepted chain: `<rowStart, padded>-<attempt>`. */
export function segmentRef(rowStart: number, attempt: string): string {
  return `${padRow(rowStart)}-${attempt}`;
}
