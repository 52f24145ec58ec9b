import { type JobSpec, type JobSpecInput, jobSpecSchema } from '../../../schemas/job-spec.js';

/** Where fake jobs read, score with and write. */
export const FAKE_INPUT_URI = 'file:///data/in/';
export const FAKE_MODEL_URI = 'file:///models/fake.onnx';
export const FAKE_OUTPUT_URI = 'file:///data/out';

/**
 * A job spec over the fake inputs: CSV under {@link FAKE_INPUT_URI}, chunks of 10 rows, JSONL output.
 * Parsed with the schema alone (not the submission limits, whose smallest `chunkRows` is 1,000), with
 * `overrides` merged one level deep.
 */
export function fakeJobSpec(overrides: Partial<JobSpecInput> = {}): JobSpec {
  return jobSpecSchema.parse({
    ...overrides,
    input: { uri: FAKE_INPUT_URI, format: 'csv', ...overrides.input },
    model: { uri: FAKE_MODEL_URI, ...overrides.model },
    output: { uri: FAKE_OUTPUT_URI, format: 'jsonl', passthrough: ['id'], ...overrides.output },
    batch: { chunkRows: 10, rows: 4, ...overrides.batch },
  });
}
