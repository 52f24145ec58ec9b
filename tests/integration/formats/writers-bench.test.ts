import type { RecordBatch } from 'apache-arrow';
import { makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import { describe, expect, it } from 'vitest';

import { encodeBatches } from '../../../services/formats/writers/make-writer.js';

/**
 * Writer throughput, the measurement behind the Parquet writer's configuration. Opt-in (QUIVER_BENCH=1):
 * it builds 1 M-row outputs and takes about a minute on 2 cores.
 */
const ROWS = 1_000_000;
const BATCH_ROWS = 65_536;

function scoreBatches(floatColumns: number): RecordBatch[] {
  const batches: RecordBatch[] = [];
  for (let start = 0; start < ROWS; start += BATCH_ROWS) {
    const length = Math.min(BATCH_ROWS, ROWS - start);
    const columns: Record<string, Vector> = {
      id: makeVector(BigInt64Array.from({ length }, (_, i) => BigInt(start + i))),
    };
    for (let c = 0; c < floatColumns; c++) {
      const name = floatColumns === 1 ? 'score' : `f${c}`;
      columns[name] = makeVector(Float32Array.from({ length }, () => Math.random()));
    }
    batches.push(...new Table(columns).batches);
  }
  return batches;
}

/** parquet-wasm with its defaults except compression: the configurations the chosen one was measured against. */
function parquetWasm(compression: Compression, dictionary: boolean) {
  return (batches: RecordBatch[]): Uint8Array => {
    const properties = new WriterPropertiesBuilder()
      .setCompression(compression)
      .setDictionaryEnabled(dictionary)
      .build();
    return writeParquet(WasmTable.fromIPCStream(tableToIPC(new Table(batches), 'stream')), properties);
  };
}

type Candidate = (batches: RecordBatch[]) => Uint8Array | Promise<Uint8Array>;

async function bestOf(runs: number, candidate: Candidate, batches: RecordBatch[]) {
  let best = Number.POSITIVE_INFINITY;
  let bytes = 0;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    bytes = (await candidate(batches)).byteLength;
    best = Math.min(best, performance.now() - started);
  }
  return { ms: best, bytes };
}

describe.runIf(process.env['QUIVER_BENCH'] === '1')('writer throughput (QUIVER_BENCH=1)', () => {
  it.each([1, 64])(
    '1 M rows of int64 id + %i float32 column(s)',
    { timeout: 600_000 },
    async (floatColumns) => {
      const batches = scoreBatches(floatColumns);
      const rawBytes = ROWS * (8 + 4 * floatColumns);
      const candidates: Record<string, Candidate> = {
        'parquet (chosen: snappy, no numeric dictionary)': (b) => encodeBatches('parquet', b),
        'parquet-wasm snappy + dictionary (its default)': parquetWasm(Compression.SNAPPY, true),
        'parquet-wasm zstd, no dictionary': parquetWasm(Compression.ZSTD, false),
        'arrow ipc file': (b) => encodeBatches('arrow', b),
        ...(floatColumns === 1 && {
          csv: (b: RecordBatch[]) => encodeBatches('csv', b),
          jsonl: (b: RecordBatch[]) => encodeBatches('jsonl', b),
        }),
      };
      const report: string[] = [];
      for (const [name, candidate] of Object.entries(candidates)) {
        const { ms, bytes } = await bestOf(floatColumns === 1 ? 3 : 2, candidate, batches);
        expect(bytes).toBeGreaterThan(0);
        report.push(
          `${name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms ${(rawBytes / 1e3 / ms).toFixed(0).padStart(5)} MB/s ` +
            `${(ROWS / 1e3 / ms).toFixed(2).padStart(6)} M rows/s  ${(bytes / 1e6).toFixed(1)} MB out`,
        );
      }
      console.log(
        `id + ${floatColumns} float32, ${(rawBytes / 1e6).toFixed(0)} MB raw\n${report.join('\n')}`,
      );
    },
  );
});
