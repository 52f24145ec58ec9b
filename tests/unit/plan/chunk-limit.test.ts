import { describe, expect, it } from 'vitest';
import { TooManyChunks } from '../../../jobs/plan/errors/too-many-chunks.js';
import {
  DEFAULT_MAX_CHUNKS_PER_JOB,
  type ParquetLayout,
  planByteChunks,
  planParquetChunks,
} from '../../../jobs/plan/plan-chunks.js';
import { jobErrorOf } from '../../../jobs/job-error.js';
import { isPermanent } from '../../../schemas/errors/quiver-error.js';
import { thrown } from '../../helpers/thrown.js';

/** One Parquet file of `groups` row groups of `rows` rows each. */
const manyGroups = (groups: number, rows: number): ParquetLayout => ({
  uri: 's3://bucket/in/wide.parquet',
  size: groups * rows * 10 + 1_000,
  rowGroups: Array.from({ length: groups }, () => ({ rows, bytes: rows * 10 })),
});

describe('chunks per job', () => {
  it('defaults to 100,000: one row group more fails with TOO_MANY_CHUNKS, a permanent error', () => {
    expect(DEFAULT_MAX_CHUNKS_PER_JOB).toBe(100_000);
    const options = { chunkRows: 1_000, chunkBytes: 1 << 30 };
    expect(planParquetChunks([manyGroups(100_000, 1_000)], options)).toHaveLength(100_000);

    const error = thrown(TooManyChunks, () => planParquetChunks([manyGroups(100_001, 1_000)], options));
    expect(error).toMatchObject({ code: 'TOO_MANY_CHUNKS', maxChunks: 100_000, chunkRows: 1_000 });
    expect(error.message).toBe(
      'TOO_MANY_CHUNKS: the input plans more than 100000 chunks at batch.chunkRows 1000 (QUIVER_MAX_CHUNKS_PER_JOB); raise batch.chunkRows or split the input into several jobs',
    );
    expect(isPermanent(error)).toBe(true);
    expect(jobErrorOf(error)).toEqual({ code: 'TOO_MANY_CHUNKS', message: error.message });
  });

  it('takes the limit from the options, for byte-planned formats too', () => {
    const objects = ['a', 'b', 'c'].map((name) => ({ uri: `s3://bucket/in/${name}.arrow`, size: 100 }));
    const options = { chunkRows: 1_000, chunkBytes: 100 };
    expect(planByteChunks('arrow', objects, { ...options, maxChunks: 3 })).toHaveLength(3);
    expect(
      thrown(TooManyChunks, () => planByteChunks('arrow', objects, { ...options, maxChunks: 2 })),
    ).toMatchObject({ maxChunks: 2 });
    // A larger chunkRows makes fewer chunks of the same row groups: the advice in the message holds.
    const groups = manyGroups(10, 1_000);
    expect(() => planParquetChunks([groups], { ...options, chunkBytes: 1 << 30, maxChunks: 5 })).toThrow(
      TooManyChunks,
    );
    expect(planParquetChunks([groups], { chunkRows: 2_000, chunkBytes: 1 << 30, maxChunks: 5 })).toHaveLength(
      5,
    );
  });
});
