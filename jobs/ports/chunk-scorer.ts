import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import type { ErrorLocation } from '../../schemas/errors/quiver-error.js';
import type { BatchSpec, ModelSpec } from '../../schemas/model-spec.js';
import type { SegmentStats } from '../../schemas/run-report.js';
import type { KeyTable, OutputBatch, RowBatch } from './batches.js';
import type { ReadProjection } from './input-readers.js';
import type { Log } from './log.js';
import type { Storage } from './storage.js';

/**
 * Whose each output column is, in output order: the passthrough columns, then the champion's outputs, then
 * each challenger's (`<name>.<column>`, with the model's own column names in `names`).
 */
export interface OutputColumnOwners {
  passthrough: readonly string[];
  champion: readonly string[];
  challengers: ReadonlyArray<{ name: string; columns: readonly string[]; names: readonly string[] }>;
}

/** What one inference call produced: output rows (passthrough, then scores) and the rows refused. */
export interface ScoredRows {
  /** Rows of the input stream this call covered, `[rowStart, rowStart + rows)`. */
  rowStart: number;
  rows: number;
  output: OutputBatch;
  /** Input rows (stream indexes) refused by a `reject` null policy, with the column that was null. */
  rejected: { rows: readonly number[]; columns: readonly string[] };
  /** The passthrough columns of the refused rows, in `rejected` order (absent when none were refused). */
  rejectedKeys?: KeyTable;
  /** Seconds spent mapping this call's rows into tensors. */
  mapSeconds?: number;
  /** Seconds the device spent running this call (the inference thread's `run()`). */
  inferSeconds?: number;
  /**
   * With `collectStats`: the statistics of every row since the last take, up to and including this call's
   * (features of every input row, scores and agreement of the scored ones), and a fresh start.
   */
  takeStats?: () => SegmentStats;
  /** Whose each output column is (the same object on every call of a chunk). */
  columns?: OutputColumnOwners;
}

/** A model scored beside the champion on the same rows; its outputs come back as `<name>.<column>`. */
export interface ChallengerLease {
  name: string;
  model: ModelSpec;
  lease: ScorerLease;
  /** Scores in [0, 1]: the agreement's same-side share is taken around it (default 0.5). */
  threshold?: number;
}

/** One chunk's scoring as the score processor asks for it: "features for this model" from these rows. */
export interface ScoreChunkRequest {
  format: InputFormat;
  /** `output.passthrough`: named columns, or `"*"` (resolved on the decoded schema: `passthroughColumns`). */
  passthrough: string[] | '*';
  /** `output.exclude` (with `"*"`). */
  exclude?: string[];
  /**
   * The chunk's Hive partition columns (the reader adds them after decoding): never packed by the decoder,
   * and left out of the default feature mapping (`model.inputs` may name them).
   */
  hiveColumns?: string[];
  batch: BatchSpec;
  /**
   * The chunk's rows, read with the projection the scorer chose for this model (which columns, and which
   * of them the decoder packs into tensors); called once.
   */
  read(projection: ReadProjection | undefined): AsyncIterable<RowBatch>;
  /** Where row `row` of the stream lives (object, row there): errors about a row carry it. */
  locate(row: number): ErrorLocation | undefined;
  signal?: AbortSignal;
  log: Log;
  /** Log how the features are read (packed in the decoder or not): the processor asks on chunk 0 only. */
  logFeaturePlan?: boolean;
  /** Models scored beside this lease's on each decoded batch (leases from the same scorer). */
  challengers?: readonly ChallengerLease[];
  /** Collect the run report's statistics (see `ScoredRows.takeStats`). */
  collectStats?: boolean;
}

/** An open model lent to one chunk attempt. */
export interface ScorerLease {
  /** The digest of the bytes this session scores with (DESIGN invariant 8). */
  readonly sha256: string;
  /**
   * Maps the rows onto the model's inputs (failing before any row is scored when they cannot be), picks
   * the batch size and scores every row, in order. Errors are QuiverErrors with their location.
   */
  score(request: ScoreChunkRequest): AsyncIterable<ScoredRows>;
  /** Once the attempt is done with it; safe to call twice. */
  release(): void;
}

/** The models a worker scores with (services/scoring/scorer-pool.ts: one session per digest). */
export interface ChunkScorer {
  /**
   * The model's digest: the spec's pin (verified against the bytes), or the digest of what the URI serves
   * now. Planning records it, so every chunk scores with exactly these bytes.
   */
  resolve(spec: ModelSpec, signal?: AbortSignal, storage?: Storage): Promise<string>;
  /**
   * Opens (or shares) the session for the model with `sha256` (default: the spec's pin, else what the URI
   * serves), through `storage` (the tenant's grants); other bytes at the URI throw `MODEL_CHANGED`.
   */
  acquire(
    spec: ModelSpec,
    sha256: string | undefined,
    signal?: AbortSignal,
    storage?: Storage,
    share?: SessionShare,
  ): Promise<ScorerLease>;
}

/** How a leased session is used beside others. */
export interface SessionShare {
  /**
   * The sessions that run side by side on each batch, this one included (a champion and its challengers:
   * 1 + challengers). They share the cores: each gets the pool's intra-op threads divided among them.
   */
  sideBySide?: number;
}
