import { QuiverError } from '../../../schemas/errors/quiver-error.js';
import type { QualityViolation } from '../../../schemas/run-report.js';

/** One violation as users read it: the column, the check, its figure and the limit it passed. */
export function describeViolation(v: QualityViolation): string {
  const figure = v.check === 'psi' ? `PSI ${v.value.toFixed(4)}` : `null fraction ${v.value.toFixed(4)}`;
  return `${v.kind} "${v.column}": ${figure} > ${v.limit}`;
}

/**
 * The run report broke the job's quality gates under `onViolation: fail`: the parts stay (to look at) but
 * no `_manifest.json` or `_SUCCESS` is written, so nothing downstream picks the run up. Permanent: the same
 * rows against the same baseline give the same figures.
 */
export class QualityGateFailed extends QuiverError {
  static readonly code = 'QUALITY_GATE_FAILED';

  constructor(
    readonly violations: readonly QualityViolation[],
    readonly reportUri: string,
  ) {
    super(
      QualityGateFailed.code,
      `QUALITY_GATE_FAILED: ${violations.map(describeViolation).join('; ')} (report: ${reportUri})`,
      { permanent: true, location: { uri: reportUri, column: violations[0]?.column } },
    );
  }
}
