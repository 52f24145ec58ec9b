import type { ColumnSketch } from '../../schemas/run-report.js';

export type BucketRuns = ColumnSketch['buckets'];

/** Zero buckets a run may carry inside it before a new run (and its header) is cheaper. */
export const MAX_GAP_IN_RUN = 8;

/** Calls `visit(id, count)` for every non-zero bucket of `runs`, ascending by id. */
export function forEachBucket(runs: BucketRuns, visit: (id: number, count: number) => void): void {
  for (const [first, counts] of runs) {
    for (let k = 0; k < counts.length; k++) {
      const count = counts[k]!;
      if (count > 0) visit(first + k, count);
    }
  }
}

/**
 * Runs from non-zero buckets given ascending by id (`ids[k]` holds `counts[k]`): consecutive buckets share
 * a run, and a gap of up to {@link MAX_GAP_IN_RUN} empty buckets is written as zeros inside it.
 */
export function encodeRuns(ids: readonly number[], counts: readonly number[]): BucketRuns {
  const runs: BucketRuns = [];
  let run: number[] | undefined;
  let last = 0;
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k]!;
    const count = counts[k]!;
    if (count === 0) continue;
    if (run !== undefined && id <= last) throw new RangeError(`encodeRuns: bucket ${id} after ${last}`);
    if (run !== undefined && id - last - 1 <= MAX_GAP_IN_RUN) {
      for (let gap = last + 1; gap < id; gap++) run.push(0);
      run.push(count);
    } else {
      run = [count];
      runs.push([id, run]);
    }
    last = id;
  }
  return runs;
}

/** The non-zero buckets of `runs` as two parallel ascending arrays. */
export function decodeRuns(runs: BucketRuns): { ids: number[]; counts: number[] } {
  const ids: number[] = [];
  const counts: number[] = [];
  forEachBucket(runs, (id, count) => {
    ids.push(id);
    counts.push(count);
  });
  return { ids, counts };
}

/** The bucket-wise sum of two run lists (a sorted merge; exact). */
export function addRuns(a: BucketRuns, b: BucketRuns): BucketRuns {
  const left = decodeRuns(a);
  const right = decodeRuns(b);
  const ids: number[] = [];
  const counts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < left.ids.length || j < right.ids.length) {
    const li = i < left.ids.length ? left.ids[i]! : Infinity;
    const rj = j < right.ids.length ? right.ids[j]! : Infinity;
    if (li === rj) {
      ids.push(li);
      counts.push(left.counts[i++]! + right.counts[j++]!);
    } else if (li < rj) {
      ids.push(li);
      counts.push(left.counts[i++]!);
    } else {
      ids.push(rj);
      counts.push(right.counts[j++]!);
    }
  }
  return encodeRuns(ids, counts);
}

/** How many values bucket `id` holds in `runs` (0 when absent). */
export function countInBucket(runs: BucketRuns, id: number): number {
  for (const [first, counts] of runs) {
    if (id >= first && id < first + counts.length) return counts[id - first]!;
  }
  return 0;
}
