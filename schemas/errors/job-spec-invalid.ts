import { QuiverError } from './quiver-error.js';

/** One problem found in a job spec: where (dotted field path, `(root)` for the whole spec) and what. */
export interface JobSpecProblem {
  path: string;
  message: string;
}

/**
 * A job spec failed validation. The message lists every problem with its field path, one per line after the
 * first, so a 4xx body or a CLI error shows the user all of them at once (DESIGN.md invariant 6).
 */
export class JobSpecInvalid extends QuiverError {
  static readonly code = 'JOB_SPEC_INVALID';

  constructor(readonly problems: readonly JobSpecProblem[]) {
    super(
      JobSpecInvalid.code,
      `${JobSpecInvalid.code}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the job spec\n` +
        problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'),
    );
  }
}
