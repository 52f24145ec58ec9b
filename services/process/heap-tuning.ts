import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full GC kept: 300 % (a limit of 4× live),
 * where V8 picks 10–300 % itself and chose ~66 % in the worker.
 *
 * Why: V8 counts ArrayBuffer memory allocated since the last mark-compact against the old generation's
 * limit (`OldGenerationSpaceAvailable`), and a feed buffer handed to an inference thread and back counts
 * each time while its detached twin stays counted until the next full GC. A worker moves ~256 MB of feature
 * tensors per million 64-float rows through those buffers, so with ~35 MB live and ~23 MB of headroom V8
 * ran mark-compacts back to back: 128 on the main thread in one `bench:score` run of the tabular MLP
 * (packed), concurrent marking on 4 helper threads taking ~18 % of the worker's CPU under `bench:e2e`
 * (perf, by thread). Measured on the 2-core VM: 100 % → 104 full GCs, 300 % → 17, 900 % → 13; the
 * pipeline's worker CPU for 1 M rows fell 12–25 % (3.98 → 3.42 and 3.84 → 2.88 CPU-s, both orders, and
 * 4.35 → 3.81 as set here, `bench:e2e --against`). The engine's overhead in `bench:score` read 61–93
 * ns/row against 90 before: within that bench's noise (±40 ns). The cost is garbage kept longer: at
 * most ~3× the live heap (~100 MB here) before a full GC frees it.
 */
export const HEAP_GROWING_PERCENT = 300;

/**
 * Sets V8's heap growth for a process that streams bulk data through ArrayBuffers (once, at start), unless
 * node was started with its own `--heap-growing-percent`. Returns the setting in force, or undefined where
 * it is V8's own (an explicit `--heap-growing-percent=0`).
 */
export function tuneHeapForBulkData(execArgv: readonly string[] = process.execArgv): number | undefined {
  const given = execArgv.find((arg) => /^--heap[-_]growing[-_]percent=/.test(arg)); // node takes only `=`
  if (given !== undefined) {
    const percent = Number(given.split('=')[1]);
    return Number.isFinite(percent) && percent > 0 ? percent : undefined;
  }
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
