import { describe, expect, it } from 'vitest';
import { jobErrorOf } from '../../../jobs/job-error.js';
import { isPermanent } from '../../../schemas/errors/quiver-error.js';
import { BadDataError } from '../../../services/formats/errors/bad-data-error.js';
import { ParquetFooterTooLarge } from '../../../services/formats/errors/parquet-footer-too-large.js';
import {
  DEFAULT_MAX_FOOTER_BYTES,
  readParquetFooter,
} from '../../../services/formats/parquet/parquet-footer.js';
import type { AsyncBuffer } from '../../../jobs/ports/storage.js';

const URI = 's3://bucket/in/wide.parquet';

/**
 * A file of `size` bytes that is all zeros but for its last 8: a footer length of `footerBytes` and the
 * closing magic (`PAR1`, or something else). Records the ranges read.
 */
function fakeFile(size: number, footerBytes: number, magic = 'PAR1') {
  const slices: Array<[number, number]> = [];
  const buffer: AsyncBuffer = {
    byteLength: size,
    slice(start: number, end = size) {
      slices.push([start, end]);
      const bytes = new Uint8Array(end - start);
      if (end === size) {
        const view = new DataView(bytes.buffer);
        view.setUint32(bytes.length - 8, footerBytes, true);
        bytes.set(new TextEncoder().encode(magic), bytes.length - 4);
      }
      return Promise.resolve(bytes.buffer);
    },
  };
  return { buffer, slices };
}

describe('Parquet footer size limit', () => {
  it('defaults to 64 MiB: a larger declared footer is PARQUET_FOOTER_TOO_LARGE before it is fetched', async () => {
    expect(DEFAULT_MAX_FOOTER_BYTES).toBe(64 << 20);
    const { buffer, slices } = fakeFile(1 << 30, (64 << 20) + 1);
    const error = await readParquetFooter(buffer, URI).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParquetFooterTooLarge);
    expect(error).toMatchObject({
      code: 'PARQUET_FOOTER_TOO_LARGE',
      uri: URI,
      footerBytes: (64 << 20) + 1,
      maxFooterBytes: 64 << 20,
    });
    // Only the 64 KiB tail was read.
    expect(slices).toEqual([[(1 << 30) - 65_536, 1 << 30]]);
    expect(isPermanent(error)).toBe(true);
    expect(jobErrorOf(error)).toMatchObject({ code: 'PARQUET_FOOTER_TOO_LARGE', uri: URI });
  });

  it('takes maxFooterBytes, and leaves a tail without the magic to the parser', async () => {
    const { buffer } = fakeFile(1 << 20, 1_000);
    await expect(readParquetFooter(buffer, URI, { maxFooterBytes: 999 })).rejects.toMatchObject({
      code: 'PARQUET_FOOTER_TOO_LARGE',
      footerBytes: 1_000,
    });
    // Under the limit, the footer is fetched and parsed: these zeros are no FileMetaData.
    await expect(readParquetFooter(buffer, URI, { maxFooterBytes: 1_000 })).rejects.toMatchObject({
      code: 'PARQUET_INVALID',
    });
    const notParquet = fakeFile(1 << 20, 0xffff_ffff, 'CSV\n');
    const error = await readParquetFooter(notParquet.buffer, URI).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadDataError);
    expect(error).toMatchObject({ code: 'PARQUET_INVALID' });
  });
});
