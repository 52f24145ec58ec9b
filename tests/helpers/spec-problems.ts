import { expect } from 'vitest';
import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { parseJobSpec } from '../../schemas/job-spec.js';

/** The problems `parseJobSpec` reports for `input`, as `path: message` lines; fails if it accepts it. */
export function specProblems(input: unknown): string[] {
  try {
    parseJobSpec(input);
  } catch (error) {
    expect(error).toBeInstanceOf(JobSpecInvalid);
    return (error as JobSpecInvalid).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected JobSpecInvalid');
}
