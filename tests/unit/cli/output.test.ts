import { describe, expect, it } from 'vitest';
import {
  describeJobError,
  formatBytes,
  formatCount,
  formatDuration,
  formatRate,
  renderTable,
} from '../../../services/cli/output.js';

describe('CLI output formatting', () => {
  it('groups counts by thousands whatever the locale', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1,000');
    expect(formatCount(1_234_567)).toBe('1,234,567');
  });

  it('shows rows/s with three significant figures and a unit', () => {
    expect(formatRate(0)).toBe('0 rows/s');
    expect(formatRate(812.4)).toBe('812 rows/s');
    expect(formatRate(12_345)).toBe('12.3k rows/s');
    expect(formatRate(250_000)).toBe('250k rows/s');
    expect(formatRate(1_254_000)).toBe('1.25M rows/s');
    expect(formatRate(3.5e9)).toBe('3.5G rows/s');
    // Rounding that would read "1000k" moves up a unit.
    expect(formatRate(999_800)).toBe('1M rows/s');
    expect(formatRate(-5)).toBe('0 rows/s');
  });

  it('shows durations (ETA) rounded up, and -- when unknown', () => {
    expect(formatDuration(null)).toBe('--');
    expect(formatDuration(undefined)).toBe('--');
    expect(formatDuration(Infinity)).toBe('--');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(0.2)).toBe('1s');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3599)).toBe('59m59s');
    expect(formatDuration(7380)).toBe('2h03m');
  });

  it('shows bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3.25 * 1024 * 1024)).toBe('3.25 MiB');
  });

  it('aligns table columns and leaves the last unpadded', () => {
    expect(
      renderTable(
        ['ID', 'STATUS', 'NAME'],
        [
          ['a', 'running', 'x'],
          ['bbbb', 'failed', ''],
        ],
      ),
    ).toBe('ID    STATUS   NAME\na     running  x\nbbbb  failed\n');
  });

  it("describes a job's error with where it happened, without repeating the code", () => {
    expect(
      describeJobError({
        code: 'FEATURE_COLUMN_MISSING',
        message: 'no column f3',
        uri: 'file:///d.parquet',
        chunk: 2,
      }),
    ).toBe('FEATURE_COLUMN_MISSING: no column f3 (object file:///d.parquet, chunk 2)');
    expect(describeJobError({ code: 'CSV_INVALID', message: 'CSV_INVALID: bad quote', row: 7 })).toBe(
      'CSV_INVALID: bad quote (row 7)',
    );
    expect(
      describeJobError({
        code: 'SCHEMA_MISMATCH',
        message: 'no column "x" (file:///d.parquet)',
        uri: 'file:///d.parquet',
        chunk: 0,
      }),
    ).toBe('SCHEMA_MISMATCH: no column "x" (file:///d.parquet) (chunk 0)');
  });
});
