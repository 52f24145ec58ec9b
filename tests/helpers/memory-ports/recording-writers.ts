import { createHash } from 'node:crypto';
import type { BatchWriter, OutputWriters } from '../../../jobs/ports/output-writers.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { FakeOutputBatch, FakeScoredRow } from './fake-scorer.js';

/** What the recording writer puts in a part: the columns, then every row it was given. */
export interface RecordedPart {
  fields: string[];
  rows: FakeScoredRow[];
}

export interface RecordingWriters extends OutputWriters {
  /** Every part written, in order. */
  readonly writes: Array<{ uri: string; rows: number }>;
}

/** The rows of a part the recording writer wrote. */
export async function readRecordedPart(storage: Storage, uri: string): Promise<RecordedPart> {
  return JSON.parse(new TextDecoder().decode(await storage.read(uri))) as RecordedPart;
}

/**
 * {@link OutputWriters} that write a small JSON encoding of the batches they get (every format alike) to
 * the storage, with the real size and SHA-256, so commits, manifests and sweeps work on real objects.
 */
export function makeRecordingWriters(): RecordingWriters {
  const writes: RecordingWriters['writes'] = [];
  const writerFor = (format: BatchWriter['format']): BatchWriter => ({
    format,
    extension: `.${format}`,
    contentType: 'application/json',
    async write(storage, uri, batches, options = {}) {
      const schema = options.schema ?? batches[0]?.schema;
      if (schema === undefined) throw new TypeError(`no schema for ${uri}: no batches and none given`);
      const rows = (batches as readonly FakeOutputBatch[]).flatMap((b) => b.rows);
      const part: RecordedPart = { fields: schema.fields.map((f) => f.name), rows };
      const bytes = new TextEncoder().encode(JSON.stringify(part));
      await storage.write(uri, bytes, { signal: options.signal, contentType: 'application/json' });
      writes.push({ uri, rows: rows.length });
      return {
        uri,
        rows: rows.length,
        bytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
    },
  });
  return { writes, writerFor };
}
