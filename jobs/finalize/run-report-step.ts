import type { ChunkCommit } from '../../schemas/chunk-commit.js';
import type { JobRecord, JobWarning } from '../../schemas/job-record.js';
import { type RunReport, runReportSchema } from '../../schemas/run-report.js';
import { SCHEDULE_KEY_PREFIX } from '../schedule/run-schedule.js';
import { StorageNotFound } from '../ports/errors/storage-not-found.js';
import type { OutputLayout } from '../output-layout.js';
import type { PipelineDeps } from '../pipeline-deps.js';
import { buildRunReport, mergeSegmentStats } from '../report/run-report.js';
import { evaluateQuality } from '../report/quality-gates.js';
import { BaselineUnreadable } from './errors/baseline-unreadable.js';
import { QualityGateFailed, describeViolation } from './errors/quality-gate-failed.js';

/** What the report step decided: the report written, and either a gate failure or the warnings to carry. */
export interface ReportOutcome {
  report: RunReport;
  failed?: QualityGateFailed;
  warnings: JobWarning[];
}

/**
 * Merges the statistics of every accepted segment (each chunk's accepted commit lists its segments once,
 * so a re-run chunk or a resumed one never counts twice), evaluates the job's quality gates against its
 * baseline, and writes `_report.json`. Segments written before reports carry no statistics: the report
 * then covers the rows of those that do.
 */
export async function writeRunReport(
  deps: Pick<PipelineDeps, 'storage' | 'store' | 'scheduleRuns'>,
  record: JobRecord,
  layout: OutputLayout,
  commits: readonly ChunkCommit[],
  rows: { input: number; scored: number; rejected: number },
  signal?: AbortSignal,
): Promise<ReportOutcome> {
  const spec = record.spec;
  const stats = mergeSegmentStats(
    commits.flatMap((c) => c.segments.flatMap((s) => (s.stats ? [s.stats] : []))),
  );
  const quality = spec.quality
    ? evaluateQuality(stats, spec.quality, await resolveBaseline(deps, record, signal))
    : undefined;
  const report = buildRunReport({
    jobId: record.id,
    specDigest: record.specDigest,
    createdAt: new Date().toISOString(),
    rows,
    models: {
      champion: { uri: spec.model.uri, ...(record.modelSha256 ? { sha256: record.modelSha256 } : {}) },
      challengers: (spec.challengers ?? []).map((c) => {
        const sha256 = record.challengerSha256?.[c.name];
        return { name: c.name, uri: c.model.uri, ...(sha256 ? { sha256 } : {}) };
      }),
    },
    stats,
    ...(quality ? { quality } : {}),
  });
  await deps.storage.write(layout.report, new TextEncoder().encode(JSON.stringify(report, null, 2)), {
    signal,
    contentType: 'application/json',
  });
  const violations = quality?.violations ?? [];
  if (violations.length > 0 && quality?.onViolation === 'fail')
    return { report, failed: new QualityGateFailed(violations, layout.report), warnings: [] };
  return {
    report,
    warnings: violations.map((v) => ({
      code: 'QUALITY_GATE_WARNING',
      message: describeViolation(v),
      column: v.column,
      check: v.check,
      value: v.value,
      limit: v.limit,
    })),
  };
}

/** The baseline report: the URI the spec names, the schedule's last succeeded run (`previous`), or none. */
async function resolveBaseline(
  deps: Pick<PipelineDeps, 'storage' | 'store' | 'scheduleRuns'>,
  record: JobRecord,
  signal?: AbortSignal,
): Promise<{ uri: string; report: RunReport } | undefined> {
  const baseline = record.spec.quality?.baseline;
  if (baseline === undefined) return undefined;
  if (baseline !== 'previous') return { uri: baseline, report: await readReport(deps, baseline, signal) };
  const previous = await previousScheduledRun(deps, record);
  if (!previous?.output.reportUri) return undefined;
  return {
    uri: previous.output.reportUri,
    report: await readReport(deps, previous.output.reportUri, signal),
  };
}

async function readReport(
  deps: Pick<PipelineDeps, 'storage'>,
  uri: string,
  signal?: AbortSignal,
): Promise<RunReport> {
  let text: string;
  try {
    text = new TextDecoder().decode(await deps.storage.read(uri, undefined, { signal }));
  } catch (error) {
    if (error instanceof StorageNotFound) throw new BaselineUnreadable(uri, 'no such object', error);
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BaselineUnreadable(uri, 'not JSON', error);
  }
  const parsed = runReportSchema.safeParse(json);
  if (!parsed.success)
    throw new BaselineUnreadable(
      uri,
      `not a run report (${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')})`,
    );
  return parsed.data;
}

/** How many of a schedule's earlier runs are looked through for the last one that succeeded. */
const PREVIOUS_RUNS_SCANNED = 100;

/**
 * The schedule's last run before this one whose job succeeded with a report (the job's idempotency key
 * names its schedule: `schedule:<name>:<logical time>`). Undefined for a job no schedule made, on the
 * first night, or where no earlier run succeeded.
 */
async function previousScheduledRun(
  deps: Pick<PipelineDeps, 'store' | 'scheduleRuns'>,
  record: JobRecord,
): Promise<JobRecord | undefined> {
  const key = record.idempotencyKey;
  if (!deps.scheduleRuns || !key?.startsWith(SCHEDULE_KEY_PREFIX)) return undefined;
  const name = key.slice(SCHEDULE_KEY_PREFIX.length).split(':')[0]!;
  let before: number | undefined;
  let ownAt: string | undefined;
  for (let scanned = 0; scanned < PREVIOUS_RUNS_SCANNED;) {
    const page = await deps.scheduleRuns.page(record.tenant, name, {
      limit: 20,
      ...(before === undefined ? {} : { before }),
    });
    for (const run of page.runs) {
      scanned += 1;
      if (run.jobId === record.id) {
        ownAt = run.at;
        continue;
      }
      // Newest first: runs after this one's logical time (a backfill made later) are not its past.
      if (run.at >= (ownAt ?? record.createdAt)) continue;
      const job = await deps.store.get(run.jobId);
      if (job?.status === 'succeeded' && job.output.reportUri) return job;
    }
    if (page.nextBefore === null) return undefined;
    before = page.nextBefore;
  }
  return undefined;
}
