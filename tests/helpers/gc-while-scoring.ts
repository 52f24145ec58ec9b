/**
 * Run as a script (`node --import tsx tests/helpers/gc-while-scoring.ts tuned|default`): scores 200,000
 * packed rows seven times (after a warm-up pass) with the real engine through an inference thread, each
 * batch in a fresh buffer as a decoder hands them over, and prints the main thread's full GCs while
 * scoring as one JSON line.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { type FixedSizeList, Float32, RecordBatch, makeData } from 'apache-arrow';
import { tuneHeapForBulkData } from '../../services/process/heap-tuning.js';
import { resolveFeatureMapping } from '../../services/scoring/feature-mapping.js';
import { resolveOutputMapping } from '../../services/scoring/output-mapping.js';
import { makeScoringEngine } from '../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../services/scoring/worker-inference-host.js';
import { modelPath } from '../../scripts/lib/models.js';
import { packedArrowData } from '../../scripts/lib/score-bench.js';

if (process.argv[2] === 'tuned') tuneHeapForBulkData();
const data = packedArrowData(200_000, 64);
/** Each batch with its feature values copied into a new buffer (DuckDB's `vector_get_data` copies too). */
function* fresh(): Generator<RecordBatch> {
  for (const batch of data) {
    const column = batch.data.children[1]!;
    const child = column.children[0]!;
    const values = makeData({
      type: new Float32(),
      length: child.length,
      data: (child.values as Float32Array).slice(),
    });
    const features = makeData({
      type: column.type as FixedSizeList,
      length: column.length,
      nullCount: 0,
      child: values,
    });
    const children = [batch.data.children[0]!, features];
    yield new RecordBatch(
      batch.schema,
      makeData({ type: batch.data.type, length: batch.numRows, nullCount: 0, children }),
    );
  }
}
const host = await makeWorkerInferenceHost({ modelPath: await modelPath('tabular-mlp'), intraOpThreads: 1 });
const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, { passthrough: ['id'] });
const outputs = resolveOutputMapping(host.metadata);
let majors = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries())
    if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
      majors++;
});
let rows = 0;
for (let pass = 0; pass < 8; pass++) {
  if (pass === 1) observer.observe({ entryTypes: ['gc'] }); // after a warm-up pass
  const engine = makeScoringEngine({ host, inputs, outputs, passthrough: ['id'], batchRows: 16_384 });
  for await (const out of engine.score(fresh())) if (pass > 0) rows += out.output.numRows;
}
await new Promise((resolve) => setTimeout(resolve, 100)); // the last GC entries are delivered
observer.disconnect();
await host.close();
console.log(JSON.stringify({ majors, rows }));
