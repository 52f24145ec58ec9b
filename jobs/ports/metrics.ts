/**
 * What processors report for the process's metrics (`services/process/metrics.ts` turns it into
 * Prometheus series). Counts only, never a job id: a series per job would grow without bound.
 */
export interface Metrics {
  /** A chunk committed: its rows scored and rows refused (the refused ones are not among the scored). */
  rowsScored(rows: number, rejected: number): void;
  /** An attempt of a chunk ended: committed after `seconds`, or stopped because it was superseded. */
  chunkFinished(outcome: ChunkOutcome, seconds: number): void;
  /** A webhook attempt was made and took `seconds`; `outcome` is the delivery's status after it. */
  webhookAttempt(outcome: WebhookAttemptOutcome, seconds: number): void;
  /** Wall seconds a chunk attempt spent in one stage of scoring. */
  stageSeconds(stage: ScoreStage, seconds: number): void;
  /** Bytes a chunk attempt moved: input read (through storage or in place), output and markers written. */
  storageBytes(direction: 'read' | 'written', bytes: number): void;
}

/**
 * Where a chunk attempt's time goes: fetching input (`read`), decoding it to rows (`decode`), mapping rows
 * into tensors (`map`), the model's run (`infer`), encoding and writing output segments (`write`), and
 * committing the chunk (`commit`). `read`, `decode`, `write` and `commit` are wall time on the attempt's
 * path; `map` and `infer` are the time of the work itself (they overlap: the next tensor is filled while
 * the model runs the previous one).
 */
export type ScoreStage = 'read' | 'decode' | 'map' | 'infer' | 'write' | 'commit';
export const scoreStages: readonly ScoreStage[] = ['read', 'decode', 'map', 'infer', 'write', 'commit'];

/** How the processor saw an attempt end; `retried` and `failed` are the queue's to count. */
export type ChunkOutcome = 'committed' | 'superseded';

/** `pending`: the delivery will be tried again. */
export type WebhookAttemptOutcome = 'delivered' | 'pending' | 'failed' | 'disabled' | 'refused';

/** What processors report to when `deps.metrics` is absent (tests, tools): nothing is kept. */
export const noMetrics: Metrics = {
  rowsScored: () => undefined,
  chunkFinished: () => undefined,
  webhookAttempt: () => undefined,
  stageSeconds: () => undefined,
  storageBytes: () => undefined,
};
