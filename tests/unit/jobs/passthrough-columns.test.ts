import { describe, expect, it } from 'vitest';
import { ExcludedColumnMissing } from '../../../jobs/score/errors/excluded-column-missing.js';
import { passthroughColumns, passthroughReadColumns } from '../../../jobs/score/passthrough-columns.js';
import { thrown } from '../../helpers/thrown.js';

const input = ['id', 'name', 'f0', 'f1', 'dt'];

describe('passthroughColumns', () => {
  it('keeps a named list as is, in its order, and reads only it', () => {
    expect(passthroughColumns({ passthrough: ['name', 'id'] }, input)).toEqual(['name', 'id']);
    expect(passthroughReadColumns({ passthrough: ['name', 'id'] })).toEqual(['name', 'id']);
  });

  it('takes every input column for "*", in input order, reading them all', () => {
    expect(passthroughColumns({ passthrough: '*' }, input)).toEqual(input);
    expect(passthroughReadColumns({ passthrough: '*' })).toBeUndefined();
  });

  it('leaves the excluded columns out of "*"', () => {
    expect(passthroughColumns({ passthrough: '*', exclude: ['f1', 'id'] }, input)).toEqual([
      'name',
      'f0',
      'dt',
    ]);
  });

  it('refuses an excluded column the input lacks, naming it and the object', () => {
    const error = thrown(ExcludedColumnMissing, () =>
      passthroughColumns({ passthrough: '*', exclude: ['f9'] }, input, 's3://events/a.parquet'),
    );
    expect(error.code).toBe('EXCLUDED_COLUMN_MISSING');
    expect(error.permanent).toBe(true);
    expect(error.location).toEqual({ column: 'f9', field: 'output.exclude', uri: 's3://events/a.parquet' });
    expect(error.message).toContain('"f9"');
    expect(error.message).toContain('s3://events/a.parquet');
  });
});
