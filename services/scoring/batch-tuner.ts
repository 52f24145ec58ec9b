/** One probe of the auto-tuner: rows per call and the throughput measured at it. */
export interface BatchTrial {
  rows: number;
  rowsPerSec: number;
}

export interface BatchTuning {
  rows: number;
  rowsPerSec: number;
  trials: BatchTrial[];
  /** Why probing stopped. */
  stoppedBy: 'no-gain' | 'memory-budget' | 'max-rows' | 'out-of-memory' | 'data';
}

export interface TuneOptions {
  /** First batch size probed (default 256). */
  startRows?: number;
  /** Largest batch size probed (default 1,048,576). */
  maxRows?: number;
  /** Rows the probe data holds: no batch is probed beyond it (default unlimited). */
  availableRows?: number;
  /** Bytes one row costs in flight (inputs + outputs + the runtime's activations, estimated). */
  bytesPerRow: number;
  /** Memory the batch may use (default 1 GiB). */
  memoryBudgetBytes?: number;
  /** Doubling stops when throughput improves by less than this fraction (default 0.05). */
  minGain?: number;
  /** On a plateau, the largest size within this fraction of the best throughput wins (default 0.03). */
  plateauTolerance?: number;
  /**
   * Sizes measured within this fraction of the best are probed once more, and the choice is made on the
   * mean of both probes (default 0.15; 0 skips it). One probe is a fraction of a second: on a shared
   * machine a neighbour can slow or spare it by 40%, making a size look best that is not.
   */
  confirmWithin?: number;
  /** Recognises an allocation failure of the runtime, which ends probing instead of failing. */
  isOutOfMemory?: (error: unknown) => boolean;
}

/** ONNX Runtime reports allocation failures with these words on every provider we use. */
export function looksOutOfMemory(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /out of memory|bad_alloc|failed to allocate|allocation failed|OOM/i.test(message);
}

/**
 * Finds the batch size to score at: doubles from `startRows` while throughput keeps improving by at least
 * `minGain` (one step without gain, flat or lower, is allowed as noise), the batch fits the memory
 * budget and the runtime can allocate it. The sizes near the best are then probed once more
 * (`confirmWithin`), and the largest within `plateauTolerance` of the best mean wins. `trials` lists the
 * first probe of each size.
 */
export async function tuneBatchSize(
  probe: (rows: number) => Promise<number>,
  options: TuneOptions,
): Promise<BatchTuning> {
  const maxRows = Math.min(options.maxRows ?? 1 << 20, options.availableRows ?? Number.POSITIVE_INFINITY);
  const budget = options.memoryBudgetBytes ?? 1 << 30;
  const minGain = options.minGain ?? 0.05;
  const isOutOfMemory = options.isOutOfMemory ?? looksOutOfMemory;
  const fits = (rows: number): boolean => rows * options.bytesPerRow <= budget;
  let rows = Math.max(1, Math.min(options.startRows ?? 256, maxRows));
  while (!fits(rows) && rows > 1) rows = Math.floor(rows / 2);
  const trials: BatchTrial[] = [{ rows, rowsPerSec: await probe(rows) }];
  let best = trials[0]!;
  let flatSteps = 0;
  let stoppedBy: BatchTuning['stoppedBy'] = 'no-gain';
  for (;;) {
    const next = rows * 2;
    if (next > maxRows) {
      stoppedBy = options.availableRows !== undefined && next > options.availableRows ? 'data' : 'max-rows';
      break;
    }
    if (!fits(next)) {
      stoppedBy = 'memory-budget';
      break;
    }
    let rowsPerSec: number;
    try {
      rowsPerSec = await probe(next);
    } catch (error) {
      if (!isOutOfMemory(error)) throw error;
      stoppedBy = 'out-of-memory';
      break;
    }
    trials.push({ rows: next, rowsPerSec });
    const gained = rowsPerSec >= best.rowsPerSec * (1 + minGain);
    if (rowsPerSec > best.rowsPerSec) best = { rows: next, rowsPerSec };
    flatSteps = gained ? 0 : flatSteps + 1;
    // One step without gain, even a drop, may be noise (on a shared 2-core VM a 0.5 s probe dipped by
    // 40% between neighbours and stopped the tuner at 512 rows where 4,096 ran 1.6x faster); two in a
    // row are the plateau.
    if (flatSteps === 2) break;
    rows = next;
  }
  // The contenders are measured again, smallest first, and judged on the mean of their two probes.
  const confirmWithin = options.confirmWithin ?? 0.15;
  let judged = trials;
  if (confirmWithin > 0) {
    judged = [];
    for (const trial of trials) {
      if (trial.rowsPerSec < best.rowsPerSec * (1 - confirmWithin)) {
        judged.push(trial);
        continue;
      }
      let again: number;
      try {
        again = await probe(trial.rows);
      } catch (error) {
        if (!isOutOfMemory(error)) throw error;
        break; // it ran before; if it cannot now, larger ones will not either
      }
      judged.push({ rows: trial.rows, rowsPerSec: (trial.rowsPerSec + again) / 2 });
    }
  }
  const top = judged.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  // On the plateau take the largest size within `plateauTolerance` of the best: every call also pays a
  // fixed cost outside the runtime (the thread hop, output assembly) that larger calls amortise.
  const tolerance = options.plateauTolerance ?? 0.03;
  const chosen = judged
    .filter((t) => t.rowsPerSec >= top.rowsPerSec * (1 - tolerance))
    .reduce((a, b) => (b.rows > a.rows ? b : a));
  return { rows: chosen.rows, rowsPerSec: chosen.rowsPerSec, trials, stoppedBy };
}
