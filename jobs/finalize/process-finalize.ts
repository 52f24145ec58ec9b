import type { ChunkCommit } from '../../schemas/chunk-commit.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { Manifest } from '../../schemas/manifest.js';
import { ModelChanged } from '../errors/model-changed.js';
import { CommitsIncomplete } from './errors/commits-incomplete.js';
import {
  objectsOf,
  readAcceptedCommits,
  sameModels,
  segmentParts,
  sweepUnreferenced,
} from '../chunk-commits.js';
import { forChallenger } from '../for-challenger.js';
import { writeRunReport } from './run-report-step.js';
import { RowsRejectedOverLimit } from '../errors/rows-rejected-over-limit.js';
import { isTerminal } from '../job-state.js';
import { type OutputLayout, jobOutputLayout } from '../output-layout.js';
import { modelFolder, partitionFolder } from '../output-partitions.js';
import { type PipelineDeps, forTenant } from '../pipeline-deps.js';

/**
 * Finishes a job whose chunks are all committed: reads the accepted commit of every chunk (never any other
 * marker in the folder), enforces `maxInvalidFraction`, writes `_manifest.json` — exactly the accepted
 * objects, each with rows, bytes and sha256, the model digest and every input version — and only then
 * `_SUCCESS`; then deletes whatever else lies under the job's folder (what superseded attempts left).
 * Readers trust only the manifest (DESIGN invariants 2 and 7); input rows = output rows + rejected rows.
 *
 * In the `exact` layout the manifest's one PUT is the switch from the previous run to this one; then the
 * sweep deletes what the new manifest does not list (the previous run, leftovers), then `_SUCCESS` is
 * written, and only then does the job leave `finalizing` — which releases its hold on the location, so
 * no later run can start on it while this one still deletes.
 */
export async function processFinalize(
  deps: PipelineDeps,
  jobId: string,
  signal?: AbortSignal,
): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record) return;
  deps = forTenant(deps, record.tenant);
  const { store, storage } = deps;
  const spec = record.spec;
  const layout = jobOutputLayout(spec.output, jobId);
  if (isTerminal(record.status)) {
    // A finalize that crashed after its transition is re-run: finish its sweep, announce the outcome again.
    // An exact location swept before its job succeeded; since then another run may have taken it over.
    if (record.status === 'succeeded' && layout.mode === 'job')
      await sweep(deps, record, layout, undefined, signal);
    await deps.onTerminal?.(record);
    return;
  }
  if (record.status === 'cancelling') {
    await store.transition(jobId, 'cancelled');
    deps.log.info({ jobId, chunksDone: record.progress.chunksDone }, 'job cancelled');
    return;
  }
  const accepted = await store.acceptedCommits(jobId);
  const total = record.progress.chunksTotal;
  const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !accepted.has(i));
  if (missing.length > 0) {
    throw new CommitsIncomplete(
      `chunks ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} of ${jobId} have no accepted commit yet`,
    );
  }
  const parts = (await readAcceptedCommits(storage, layout, accepted, signal)).filter((c) => c.index < total);
  const modelSha256 = record.modelSha256 ?? parts[0]?.modelSha256;
  const challengerSha256 = record.challengerSha256 ?? parts[0]?.challengerSha256;
  const foreign =
    modelSha256 === undefined
      ? undefined
      : parts.find((p) => !sameModels(p, { modelSha256, ...(challengerSha256 ? { challengerSha256 } : {}) }));
  if (foreign && modelSha256 !== undefined) {
    // Cannot happen while every chunk scores with the planned digests; refuse to publish a mix if it does.
    const challenger = (spec.challengers ?? []).find(
      (c) => foreign.challengerSha256?.[c.name] !== challengerSha256?.[c.name],
    );
    const error =
      foreign.modelSha256 !== modelSha256 || !challenger
        ? new ModelChanged(spec.model.uri, modelSha256, foreign.modelSha256)
        : (forChallenger(
            new ModelChanged(
              challenger.model.uri,
              challengerSha256?.[challenger.name] ?? 'none',
              foreign.challengerSha256?.[challenger.name] ?? 'none',
            ),
            challenger.name,
          ) as ModelChanged);
    await store.transition(jobId, 'failed', {
      error: { code: error.code, message: error.message, chunk: foreign.index },
    });
    return;
  }
  const rowsScored = parts.reduce((n, p) => n + p.rows, 0);
  const rowsRejected = parts.reduce((n, p) => n + p.rejected, 0);
  const inputRows = rowsScored + rowsRejected;
  if (inputRows > 0 && rowsRejected / inputRows > spec.errors.maxInvalidFraction) {
    const error = new RowsRejectedOverLimit(
      rowsRejected,
      inputRows,
      spec.errors.maxInvalidFraction,
      layout.rejected,
    );
    await store.transition(jobId, 'failed', {
      error: { code: error.code, message: error.message, uri: error.uri },
    });
    return;
  }
  const reported =
    spec.output.report === false
      ? { warnings: [] }
      : await writeRunReport(
          deps,
          record,
          layout,
          parts,
          { input: inputRows, scored: rowsScored, rejected: rowsRejected },
          signal,
        );
  if ('failed' in reported && reported.failed) {
    // The parts stay for a look; no manifest and no `_SUCCESS`, so nothing downstream takes the run.
    const error = reported.failed;
    await store.transition(jobId, 'failed', {
      error: { code: error.code, message: error.message, uri: layout.report },
      reportUri: layout.report,
    });
    deps.log.info(
      { jobId, code: error.code, violations: error.violations.length },
      'job failed its quality gate',
    );
    return;
  }
  const inputs = new Map(parts.flatMap((p) => p.inputs).map((i) => [i.uri, i]));
  const manifest: Manifest = {
    jobId,
    name: spec.name,
    specDigest: record.specDigest,
    modelSha256,
    format: spec.output.format,
    root: layout.root,
    inputRows,
    rowsScored,
    rowsRejected,
    inputs: [...inputs.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0)),
    parts: parts.flatMap((p) =>
      p.segments.flatMap((s) =>
        segmentParts(s).map((file) => ({
          index: p.index,
          uri: file.uri,
          rows: file.rows ?? s.rows,
          bytes: file.bytes,
          sha256: file.sha256,
          ...(file.partition && spec.output.partitionBy !== undefined ? { partition: file.partition } : {}),
          ...(file.model === undefined ? {} : { model: file.model }),
        })),
      ),
    ),
    rejected: parts.flatMap((p) =>
      p.segments.flatMap((s) =>
        s.rejectedFile
          ? [
              {
                index: p.index,
                uri: s.rejectedFile.uri,
                rows: s.rejected,
                bytes: s.rejectedFile.bytes,
                sha256: s.rejectedFile.sha256,
              },
            ]
          : [],
      ),
    ),
    timings: {
      scoringSeconds: parts.reduce((n, p) => n + p.seconds, 0),
      createdAt: record.createdAt,
      finishedAt: new Date().toISOString(),
    },
    ...(record.usage ? { usage: record.usage } : {}),
    ...(spec.output.layout === undefined ? {} : { layout: spec.output.layout }),
    ...(spec.output.report === false ? {} : { report: layout.report }),
    ...(spec.challengers
      ? {
          challengers: spec.challengers.map((c) => ({
            name: c.name,
            uri: c.model.uri,
            ...(challengerSha256?.[c.name] ? { sha256: challengerSha256[c.name] } : {}),
          })),
        }
      : {}),
    ...(reported.warnings.length > 0 ? { warnings: reported.warnings } : {}),
  };
  if (spec.output.partitionBy !== undefined) {
    manifest.partitionBy = spec.output.partitionBy;
    manifest.partitions = partitionSummary(spec.output.partitionBy, manifest.parts);
  }
  await storage.write(layout.manifest, new TextEncoder().encode(JSON.stringify(manifest, null, 2)), {
    signal,
    contentType: 'application/json',
  });
  const patch = {
    manifestUri: layout.manifest,
    ...(spec.output.report === false ? {} : { reportUri: layout.report }),
    ...(modelSha256 === undefined ? {} : { modelSha256 }),
    ...(reported.warnings.length > 0 ? { warnings: reported.warnings } : {}),
  };
  if (layout.mode === 'exact') {
    // The previous run goes before `_SUCCESS`, so a lister that waits for it never sees both runs' parts.
    await sweep(deps, record, layout, parts, signal);
    await storage.write(layout.success, new Uint8Array(), { signal });
    await store.transition(jobId, 'succeeded', patch);
    deps.log.info({ jobId, rowsScored, rowsRejected, parts: manifest.parts.length }, 'job succeeded');
    return;
  }
  await storage.write(layout.success, new Uint8Array(), { signal });
  const succeeded = await store.transition(jobId, 'succeeded', patch);
  deps.log.info({ jobId, rowsScored, rowsRejected, parts: manifest.parts.length }, 'job succeeded');
  await sweep(deps, succeeded, layout, parts, signal);
}

/** The manifest's `partitions`: every partition with rows, in folder order, with its rows and parts. */
function partitionSummary(
  columns: readonly string[],
  parts: Manifest['parts'],
): NonNullable<Manifest['partitions']> {
  const byFolder = new Map<string, NonNullable<Manifest['partitions']>[number]>();
  for (const part of parts) {
    if (part.partition === undefined) continue;
    // With output.challengers "parts", each model's partitions lie under its model=<name>/ folder.
    const model = part.model === undefined ? '' : modelFolder(part.model);
    const folder = `${model}${partitionFolder(columns, part.partition)}`;
    const entry = byFolder.get(folder) ?? {
      values: part.partition,
      folder,
      rows: 0,
      parts: 0,
      ...(part.model === undefined ? {} : { model: part.model }),
    };
    entry.rows += part.rows;
    entry.parts += 1;
    byFolder.set(folder, entry);
  }
  return [...byFolder.values()].sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
}

/**
 * Deletes what the accepted commits do not reference under a succeeded job's folder. The job is no longer
 * `running`, so no commit can be accepted meanwhile; a zombie that writes later only adds objects nothing
 * references (and the next sweep, or a re-run finalize, removes them).
 */
async function sweep(
  deps: PipelineDeps,
  record: JobRecord,
  layout: OutputLayout,
  commits: readonly ChunkCommit[] | undefined,
  signal?: AbortSignal,
): Promise<void> {
  let accepted = commits;
  if (accepted === undefined) {
    const known = await deps.store.acceptedCommits(record.id);
    // Without every accepted commit there is no telling what is referenced: keep everything.
    if (known.size < record.progress.chunksTotal) return;
    accepted = await readAcceptedCommits(deps.storage, layout, known, signal);
  }
  const keep = new Set([
    layout.manifest,
    layout.success,
    layout.report,
    ...accepted.flatMap((c) => objectsOf(layout, c)),
  ]);
  const deleted = await sweepUnreferenced(deps.storage, layout, keep, signal);
  if (deleted > 0) deps.log.info({ jobId: record.id, deleted }, 'unreferenced objects deleted');
}
