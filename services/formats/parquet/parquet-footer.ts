import { parquetMetadataAsync } from 'hyparquet';
import type { AsyncBuffer } from '../../../jobs/ports/storage.js';
import { StorageError } from '../../../jobs/ports/errors/storage-error.js';
import { BadDataError } from '../errors/bad-data-error.js';
import { ParquetFooterTooLarge } from '../errors/parquet-footer-too-large.js';

/** Where one row group's column chunks lie in the file, and how many rows it holds. */
export interface ParquetRowGroupInfo {
  rows: number;
  /** First byte of its first column chunk (dictionary page included). */
  byteStart: number;
  /** One past the last byte of its last column chunk. */
  byteEnd: number;
}

/** What planning and reading need from a Parquet footer; a few numbers per row group. */
export interface ParquetFooter {
  uri: string;
  size: number;
  rows: number;
  rowGroups: ParquetRowGroupInfo[];
  /** Offset of the footer (FileMetaData + length + magic); everything from here to the end is footer. */
  footerStart: number;
  /** Top-level column names in file order. */
  columns: string[];
}

/** Footers are usually a few KiB; one 64 KiB tail read covers most files in a single request. */
const INITIAL_FETCH = 64 * 1024;

/** `PAR1`, read as a little-endian uint32. */
const PARQUET_MAGIC = 0x31524150;

/** Largest footer read unless told otherwise: 64 MiB. */
export const DEFAULT_MAX_FOOTER_BYTES = 64 << 20;

export interface ParquetFooterOptions {
  /**
   * Largest footer (FileMetaData) accepted, default 64 MiB: a file declaring a larger one throws
   * `ParquetFooterTooLarge` before the footer is fetched.
   */
  maxFooterBytes?: number;
}

/**
 * Reads a Parquet footer with ranged reads (the file's tail, plus one more read if the footer is larger
 * than the first fetch), never the whole object.
 */
export async function readParquetFooter(
  buffer: AsyncBuffer,
  uri: string,
  options: ParquetFooterOptions = {},
): Promise<ParquetFooter> {
  if (buffer.byteLength < 12) {
    throw new BadDataError('PARQUET_INVALID', `not a Parquet file: ${buffer.byteLength} bytes is too short`, {
      uri,
    });
  }
  let metadata;
  try {
    const maxFooterBytes = options.maxFooterBytes ?? DEFAULT_MAX_FOOTER_BYTES;
    metadata = await parquetMetadataAsync(footerLengthChecked(buffer, uri, maxFooterBytes), {
      initialFetchSize: INITIAL_FETCH,
    });
  } catch (error) {
    // Failing to fetch the bytes is the storage's error (transient or not), not bad data.
    if (error instanceof StorageError || (error instanceof Error && error.name === 'AbortError')) throw error;
    if (error instanceof ParquetFooterTooLarge) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new BadDataError(
      'PARQUET_INVALID',
      `unreadable Parquet footer: ${detail}`,
      { uri },
      { cause: error },
    );
  }
  const rowGroups = metadata.row_groups.map((group): ParquetRowGroupInfo => {
    let byteStart = Number.POSITIVE_INFINITY;
    let byteEnd = 0;
    for (const column of group.columns) {
      const meta = column.meta_data;
      if (!meta) continue;
      // Some writers leave dictionary_page_offset at 0 when there is no dictionary page.
      const dictionary = meta.dictionary_page_offset ? Number(meta.dictionary_page_offset) : 0;
      const start =
        dictionary > 0 ? Math.min(dictionary, Number(meta.data_page_offset)) : Number(meta.data_page_offset);
      byteStart = Math.min(byteStart, start);
      byteEnd = Math.max(byteEnd, start + Number(meta.total_compressed_size));
    }
    if (!Number.isFinite(byteStart)) byteStart = byteEnd = 4;
    return { rows: Number(group.num_rows), byteStart, byteEnd };
  });
  const footerStart = buffer.byteLength - 8 - metadata.metadata_length;
  for (const [index, group] of rowGroups.entries()) {
    if (group.byteStart < 4 || group.byteEnd > footerStart) {
      throw new BadDataError('PARQUET_INVALID', `row group ${index} points outside the file`, { uri });
    }
  }
  // The schema's first element is the root; its direct children are the top-level columns.
  const columns: string[] = [];
  let index = 1;
  const schema = metadata.schema;
  const skipSubtree = (): void => {
    const element = schema[index++];
    for (let i = 0; i < (element?.num_children ?? 0); i++) skipSubtree();
  };
  while (index < schema.length) {
    columns.push(schema[index]!.name);
    skipSubtree();
  }
  return { uri, size: buffer.byteLength, rows: Number(metadata.num_rows), rowGroups, footerStart, columns };
}

/**
 * `buffer`, checking the footer length a tail read declares (the 4 bytes before the closing `PAR1`): the
 * parser's first read is the file's tail, and a declared length over `maxFooterBytes` throws before the
 * footer itself is fetched.
 */
function footerLengthChecked(buffer: AsyncBuffer, uri: string, maxFooterBytes: number): AsyncBuffer {
  return {
    byteLength: buffer.byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const bytes = await buffer.slice(start, end);
      const view = new DataView(bytes);
      const tail = (end ?? buffer.byteLength) === buffer.byteLength && bytes.byteLength >= 8;
      // Only a Parquet tail declares a length; the parser refuses anything else with its own error.
      if (tail && view.getUint32(bytes.byteLength - 4, true) === PARQUET_MAGIC) {
        const footerBytes = view.getUint32(bytes.byteLength - 8, true);
        if (footerBytes > maxFooterBytes) throw new ParquetFooterTooLarge(uri, footerBytes, maxFooterBytes);
      }
      return bytes;
    },
  };
}
