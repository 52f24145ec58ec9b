import { createHash } from 'node:crypto';
import type { KeyTable, OutputBatch } from '../../../jobs/ports/batches.js';
import type {
  ChunkScorer,
  ScoreChunkRequest,
  ScoredRows,
  ScorerLease,
} from '../../../jobs/ports/chunk-scorer.js';
import type { ModelSpec } from '../../../schemas/model-spec.js';
import { FeatureMappingError } from '../../../services/scoring/errors/feature-mapping-error.js';
import type { FakeRowBatch } from './fake-readers.js';

/** One scored output row: the input row it came from and its score. */
export interface FakeScoredRow {
  uri: string;
  row: number;
  score: number;
}

/** Output rows of one scored call; the recording writer encodes `rows`. */
export interface FakeOutputBatch extends OutputBatch {
  readonly rows: readonly FakeScoredRow[];
}

export const FAKE_OUTPUT_SCHEMA = { fields: [{ name: 'uri' }, { name: 'row' }, { name: 'score' }] };

/** The deterministic "score" of row `row` of object `uri`. */
export function fakeScore(uri: string, row: number): number {
  return row * 0.5 + (uri.length % 7);
}

export interface FakeScorerOptions {
  /**
   * Fails scoring at this input row (object and row there): a `FEATURE_NULL` mapping error located by the
   * request's `locate` (`permanent` false makes it a plain transient error instead, without a location).
   */
  failAt?: { uri?: string; row: number; permanent?: boolean };
  /** Rows refused by a `reject` null policy (their null column is `f3`). */
  reject?: (uri: string, row: number) => boolean;
  /** Awaited before each scored call, with the request's signal (a test holds a chunk mid-scoring). */
  beforeCall?: (rowStart: number, signal: AbortSignal | undefined) => Promise<void>;
  /** The digest `resolve` answers for a spec without a pin. Default: SHA-256 of the model URI. */
  digestOf?: (spec: ModelSpec) => string;
}

export interface FakeScorer extends ChunkScorer {
  readonly options: FakeScorerOptions;
  /** Every `resolve` and `acquire`, with the digest asked for (`acquire`) or answered (`resolve`). */
  readonly calls: Array<{
    method: 'resolve' | 'acquire';
    uri: string;
    sha256: string | undefined;
    /** `acquire`'s `share.sideBySide`, when asked. */
    sideBySide?: number;
  }>;
  /** Rows scored (or refused), over every call: `<uri>#<row>`. */
  readonly scoredRows: string[];
  /** Leases acquired and not yet released. */
  leasesOpen(): number;
}

const digestOfUri = (spec: ModelSpec): string => createHash('sha256').update(spec.uri).digest('hex');

function keyTable(rows: readonly { uri: string; row: number }[]): KeyTable {
  return {
    numRows: rows.length,
    get: (index) => {
      const row = rows[index];
      return row ? { toJSON: () => ({ uri: row.uri, row: row.row }) } : null;
    },
  };
}

/**
 * A {@link ChunkScorer} without a model: one scored call per batch read, each row scored
 * {@link fakeScore}, with an injectable mapping failure and refused rows. It reads through the request as
 * the real scorer does, so the processor's resume skip, locations and checkpoints run for real.
 */
/** The mapping and inference seconds every fake call reports. */
export const FAKE_MAP_SECONDS = 0.002;
export const FAKE_INFER_SECONDS = 0.005;

export function makeFakeScorer(options: FakeScorerOptions = {}): FakeScorer {
  const calls: FakeScorer['calls'] = [];
  const scoredRows: string[] = [];
  let open = 0;
  async function* score(request: ScoreChunkRequest): AsyncGenerator<ScoredRows> {
    let rowStart = 0;
    for await (const batch of request.read(undefined) as AsyncIterable<FakeRowBatch>) {
      await options.beforeCall?.(rowStart, request.signal);
      request.signal?.throwIfAborted();
      const rows: FakeScoredRow[] = [];
      const refused: number[] = [];
      const refusedKeys: Array<{ uri: string; row: number }> = [];
      for (let i = 0; i < batch.numRows; i++) {
        const row = batch.firstRow + i;
        const fail = options.failAt;
        if (fail && fail.row === row && (fail.uri === undefined || fail.uri === batch.uri)) {
          if (fail.permanent === false) throw new Error(`scoring failed at ${batch.uri} row ${row}`);
          const error = new FeatureMappingError('FEATURE_NULL', `input "x": column "f3" is null`, {
            column: 'f3',
            row: i,
          });
          error.location = { ...error.location, ...request.locate(rowStart + i) };
          throw error;
        }
        scoredRows.push(`${batch.uri}#${row}`);
        if (options.reject?.(batch.uri, row)) {
          refused.push(rowStart + i);
          refusedKeys.push({ uri: batch.uri, row });
        } else rows.push({ uri: batch.uri, row, score: fakeScore(batch.uri, row) });
      }
      const output: FakeOutputBatch = { numRows: rows.length, schema: FAKE_OUTPUT_SCHEMA, rows };
      yield {
        rowStart,
        rows: batch.numRows,
        output,
        rejected: { rows: refused, columns: refused.map(() => 'f3') },
        ...(refused.length > 0 ? { rejectedKeys: keyTable(refusedKeys) } : {}),
        // What a real engine reports per call: its mapping time and the device's run time.
        mapSeconds: FAKE_MAP_SECONDS,
        inferSeconds: FAKE_INFER_SECONDS,
      };
      rowStart += batch.numRows;
    }
  }
  return {
    options,
    calls,
    scoredRows,
    leasesOpen: () => open,
    resolve(spec) {
      const sha256 = spec.sha256 ?? (options.digestOf ?? digestOfUri)(spec);
      calls.push({ method: 'resolve', uri: spec.uri, sha256 });
      return Promise.resolve(sha256);
    },
    acquire(spec, sha256, _signal, _storage, share) {
      calls.push({
        method: 'acquire',
        uri: spec.uri,
        sha256,
        ...(share?.sideBySide !== undefined && { sideBySide: share.sideBySide }),
      });
      open += 1;
      let released = false;
      const lease: ScorerLease = {
        sha256: sha256 ?? spec.sha256 ?? (options.digestOf ?? digestOfUri)(spec),
        score,
        release() {
          if (!released) open -= 1;
          released = true;
        },
      };
      return Promise.resolve(lease);
    },
  };
}
