import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * Another active job writes the job's output folder, a folder inside it or one around it (two `exact`
 * jobs on one location, an `exact` location inside another, a `job`-layout folder inside an `exact` one):
 * the job was not created. The API answers 409; the job can be submitted once the other one has ended.
 */
export class OutputInUse extends QuiverError {
  static readonly code = 'OUTPUT_IN_USE';

  constructor(
    /** The output folder the new job would hold. */
    readonly folder: string,
    /** The active job holding `heldFolder`. */
    readonly holder: string,
    readonly heldFolder: string,
  ) {
    super(
      OutputInUse.code,
      `${OutputInUse.code}: output.uri ${folder} overlaps ${heldFolder}, which active job ${holder} writes; submit again once it has ended`,
      { location: { uri: folder, field: 'output.uri' } },
    );
  }
}
