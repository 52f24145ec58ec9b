import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * Two sketches that cannot be merged exactly: column sketches counted at different mantissa bits, or
 * agreement sketches taken around different thresholds. Segments of one job share both, so this is a
 * worker writing a different layout (a mixed deployment) and no retry changes it.
 */
export class SketchMismatch extends QuiverError {
  static readonly code = 'SKETCH_MISMATCH';

  constructor(
    readonly field: 'bits' | 'threshold',
    readonly left: number,
    readonly right: number,
  ) {
    super(SketchMismatch.code, `SKETCH_MISMATCH: cannot merge sketches with ${field} ${left} and ${right}`, {
      permanent: true,
      location: { field },
    });
  }
}
