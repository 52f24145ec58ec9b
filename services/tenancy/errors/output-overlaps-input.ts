/**
 * A job's output prefix lies inside its input prefix, or the reverse: its parts would be read back as input
 * by this or a later run. Refused at submission.
 */
export class OutputOverlapsInput extends Error {
  static readonly code = 'OUTPUT_OVERLAPS_INPUT';
  override readonly name = 'OutputOverlapsInput';
  readonly code = OutputOverlapsInput.code;
  constructor(
    readonly output: string,
    readonly input: string,
    /** The spec field refused. */
    readonly path = 'output.uri',
  ) {
    super(
      `${OutputOverlapsInput.code}: ${path} ${output} overlaps the input ${input}; write outside the input`,
    );
  }
}
