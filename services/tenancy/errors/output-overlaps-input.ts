import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A job's output prefix lies inside its input prefix, or the reverse: its parts would be read back as input
 * by this or a later run. Refused at submission.
 */
export class OutputOverlapsInput extends QuiverError {
  static readonly code = 'OUTPUT_OVERLAPS_INPUT';
  constructor(
    readonly output: string,
    readonly input: string,
    /** The spec field refused. */
    readonly path = 'output.uri',
  ) {
    super(
      OutputOverlapsInput.code,
      `${OutputOverlapsInput.code}: ${path} ${output} overlaps the input ${input}; write outside the input`,
      { permanent: true, location: { uri: output, field: path } },
    );
  }
}
