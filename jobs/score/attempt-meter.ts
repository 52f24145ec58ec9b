import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { UsageDelta } from '../ports/job-store.js';
import { type CpuMeter, noCpuMeter } from '../ports/cpu-meter.js';
import { type Metrics, type ScoreStage, noMetrics, scoreStages } from '../ports/metrics.js';
import type { Storage, WriteBody } from '../ports/storage.js';

/**
 * What one chunk attempt used: wall seconds per stage, bytes read and written, CPU and device seconds. It
 * goes to the process's metrics and to the job's usage once, when the attempt ends (`finish`).
 */
export interface AttemptMeter {
  /** The attempt's storage: reads and writes through it are timed and counted. */
  storage(inner: Storage): Storage;
  add(stage: ScoreStage, seconds: number): void;
  /** Times `run` as `stage`. */
  time<T>(stage: ScoreStage, run: () => Promise<T>): Promise<T>;
  /**
   * Times the stream's batches as read + decode: the wait for each batch, less the storage reads made
   * meanwhile (those are `read`).
   */
  decoding<T>(batches: AsyncIterable<T>): AsyncGenerator<T>;
  /**
   * Ends the attempt's measure (later calls return undefined): the stages and bytes go to the metrics, and
   * what the job is charged is returned. Input a native decoder read in place (Parquet on local disk)
   * bypasses storage: the chunk's planned bytes then stand for what it read.
   */
  finish(superseded: boolean): UsageDelta | undefined;
}

export function makeAttemptMeter(
  chunk: ChunkDescriptor,
  metrics: Metrics = noMetrics,
  cpu: CpuMeter = noCpuMeter,
): AttemptMeter {
  const stages = Object.fromEntries(scoreStages.map((s) => [s, 0])) as Record<ScoreStage, number>;
  const cpuMeasure = cpu.start();
  let bytesRead = 0;
  let bytesWritten = 0;
  let readSeconds = 0;
  let finished = false;
  const add = (stage: ScoreStage, seconds: number): void => {
    stages[stage] += seconds;
  };

  async function* counted(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const piece of body) {
      bytesWritten += piece.byteLength;
      yield piece;
    }
  }
  const countWrite = (body: WriteBody): WriteBody => {
    if (body instanceof Uint8Array) {
      bytesWritten += body.byteLength;
      return body;
    }
    return counted(body);
  };

  return {
    storage(inner) {
      return {
        list: (prefixUri, options) => inner.list(prefixUri, options),
        stat: (uri, options) => inner.stat(uri, options),
        async read(uri, range, options) {
          const started = performance.now();
          try {
            const bytes = await inner.read(uri, range, options);
            bytesRead += bytes.byteLength;
            return bytes;
          } finally {
            readSeconds += (performance.now() - started) / 1000;
          }
        },
        write: (uri, body, options) => inner.write(uri, countWrite(body), options),
        delete: (uri, options) => inner.delete(uri, options),
      };
    },
    add,
    async time(stage, run) {
      const started = performance.now();
      try {
        return await run();
      } finally {
        add(stage, (performance.now() - started) / 1000);
      }
    },
    async *decoding<T>(batches: AsyncIterable<T>): AsyncGenerator<T> {
      const iterator = batches[Symbol.asyncIterator]();
      for (;;) {
        const started = performance.now();
        const readBefore = readSeconds;
        let next: IteratorResult<T>;
        try {
          next = await iterator.next();
        } finally {
          const waited = (performance.now() - started) / 1000;
          const reading = readSeconds - readBefore;
          add('read', reading);
          add('decode', Math.max(0, waited - reading));
        }
        if (next.done) return;
        yield next.value;
      }
    },
    finish(superseded) {
      if (finished) return undefined;
      finished = true;
      const read = Math.max(bytesRead, chunk.bytes);
      for (const stage of scoreStages) if (stages[stage] > 0) metrics.stageSeconds(stage, stages[stage]);
      metrics.storageBytes('read', read);
      metrics.storageBytes('written', bytesWritten);
      return {
        cpuSeconds: cpuMeasure.stop(),
        deviceSeconds: stages.infer,
        bytesRead: read,
        bytesWritten,
        ...(superseded ? { supersededAttempts: 1 } : {}),
      };
    },
  };
}
