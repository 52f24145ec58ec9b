import { describe, expect, it } from 'vitest';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import {
  type JobSpecInput,
  deviceClassOf,
  parseJobSpec as parse,
  specDigest,
} from '../../../schemas/job-spec.js';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';

/** The fake spec's chunks are smaller than submissions allow: limits are not what this is about. */
const parseJobSpec = (input: JobSpecInput) => parse(input, { minChunkRows: 1 });

describe('resources.device', () => {
  it('is cpu, gpu or any, any when not given, and leaves the digest of a spec without it unchanged', () => {
    const plain = parseJobSpec(fakeJobSpec());
    expect(plain.resources).toBeUndefined();
    expect(deviceClassOf(plain)).toBe('any');
    expect(deviceClassOf(parseJobSpec(fakeJobSpec({ resources: {} })))).toBe('any');
    for (const device of ['cpu', 'gpu', 'any'] as const)
      expect(deviceClassOf(parseJobSpec(fakeJobSpec({ resources: { device } })))).toBe(device);
    // Specs stored before device classes keep their digest (idempotency keys, adopted commits).
    expect(specDigest(plain)).toBe(specDigest(parseJobSpec(fakeJobSpec())));
    expect(specDigest(parseJobSpec(fakeJobSpec({ resources: { device: 'gpu' } })))).not.toBe(
      specDigest(plain),
    );

    const wrong = () => parseJobSpec({ ...fakeJobSpec(), resources: { device: 'tpu' as never } });
    expect(wrong).toThrow(JobSpecInvalid);
    try {
      wrong();
    } catch (error) {
      expect((error as JobSpecInvalid).problems.map((p) => p.path)).toEqual(['resources.device']);
    }
  });

  it("queues a job's chunks under its device class", async () => {
    for (const device of [undefined, 'cpu', 'gpu', 'any'] as const) {
      const deps = memoryPipelineDeps();
      await deps.storage.write(`${FAKE_INPUT_URI}a.csv`, new TextEncoder().encode(fakeInput(25)));
      const { record } = await deps.store.create(
        fakeJobSpec(device === undefined ? {} : { resources: { device } }),
      );
      await processPlan(deps, record.id);
      expect(deps.queue.chunks.length, String(device)).toBeGreaterThan(1);
      expect(new Set(deps.queue.chunks.map((c) => c.device)), String(device)).toEqual(
        new Set([device ?? 'any']),
      );
    }
  });
});
