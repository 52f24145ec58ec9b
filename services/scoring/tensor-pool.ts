import type { ResolvedInput } from './feature-mapping.js';
import type { TensorData } from './inference-host.js';

const ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
} as const satisfies Record<ResolvedInput['type'], unknown>;

/**
 * Feed buffers the inference host handed back, kept for the next call of the same size. A fresh large
 * ArrayBuffer is zeroed, page-faulted memory: on the 2-core VM it cost 30–60 ns per 64-float row, more
 * than packing the row into it. Contents are stale; callers overwrite every element they feed.
 */
export function makeTensorPool(options: { maxPerSize: number }) {
  let maxPerSize = options.maxPerSize;
  const free = new Map<number, ArrayBuffer[]>();
  let reused = 0;
  let allocated = 0;
  return {
    /** A tensor of `length` elements: a recycled buffer of the same byte size when one is free. */
    take(type: ResolvedInput['type'], length: number): TensorData {
      const Array = ARRAYS[type];
      const buffer = free.get(length * Array.BYTES_PER_ELEMENT)?.pop();
      if (buffer) {
        reused++;
        return new Array(buffer);
      }
      allocated++;
      return new Array(length);
    },
    /** Buffers back from the host. Beyond `maxPerSize` of one size (a batch-size change), they are dropped. */
    give(buffers: Iterable<ArrayBuffer>): void {
      for (const buffer of buffers) {
        if (buffer.byteLength === 0) continue; // detached
        const list = free.get(buffer.byteLength) ?? [];
        if (list.length < maxPerSize) list.push(buffer);
        free.set(buffer.byteLength, list);
      }
    },
    /** Keeps at least `count` buffers of one size from now on (another user of the pool needs them). */
    allow(count: number): void {
      maxPerSize = Math.max(maxPerSize, count);
    },
    /** Drops every kept buffer (the batch size changed: they would never fit again). */
    clear(): void {
      free.clear();
    },
    stats: () => ({ reused, allocated }),
  };
}

export type TensorPool = ReturnType<typeof makeTensorPool>;
