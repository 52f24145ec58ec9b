import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../schemas/chunk-descriptor.js';
import type {
  FormatReader as PortFormatReader,
  InvalidRecord as PortInvalidRecord,
  ReadPartOptions as PortReadPartOptions,
} from '../../jobs/ports/input-readers.js';
import type { Storage } from '../../jobs/ports/storage.js';
import type { BadDataError } from './errors/bad-data-error.js';

export type { ColumnTypeName } from '../../jobs/ports/input-readers.js';

/** A record a reader skipped (handed to `ReadPartOptions.onInvalidRecord`); its error is a BadDataError here. */
export interface InvalidRecord extends PortInvalidRecord {
  error: BadDataError;
}

/** The port's read options, whose skipped records carry BadDataErrors. */
export type ReadPartOptions = PortReadPartOptions<InvalidRecord>;

/** A reader of one format: the port's, yielding Arrow record batches. */
export interface FormatReader extends PortFormatReader {
  readPart(storage: Storage, part: ChunkPart, options?: ReadPartOptions): AsyncIterable<RecordBatch>;
}
