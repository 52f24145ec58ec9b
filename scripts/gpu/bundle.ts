/**
 * The device check as plain JavaScript for a host without tsx: `scripts/gpu/check.ts`, `bench:gpu` and the
 * inference worker thread bundled by esbuild into `<pack>/app/`, with every pure-JS dependency inlined and
 * only the native packages (`RUNTIME_PACKAGES`) left to `node_modules`. `npm run gpu:pack` builds it into
 * `.gpu/`; `tests/e2e/gpu-check.test.ts` runs it beside nothing but those packages.
 */
import { cp, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '../..');

/**
 * What the bundle needs from `node_modules` at run time: packages that load native code or WebAssembly from
 * beside their own files (parquet-wasm, the Parquet writer, reads its `.wasm` through `__dirname`), and the
 * one JavaScript package onnxruntime-node requires itself. The pack leaves out their other platforms.
 */
export const RUNTIME_PACKAGES = [
  'onnxruntime-node',
  'onnxruntime-common',
  '@duckdb/node-bindings',
  '@duckdb/node-bindings-linux-x64',
  'parquet-wasm',
] as const;

/**
 * Files the bundled code reads beside itself through `import.meta` (each path is relative to its module,
 * and every module of the bundle lives in `<pack>/app/`): the queue's Lua scripts, and the model generator
 * whose hash names the cached models (`scripts/lib/models.ts`). The cache itself is `../../.cache` from
 * `app/`: the project's own `.cache`, as from `scripts/lib/`.
 */
const BESIDE: ReadonlyArray<[from: string, to: string]> = [
  ['services/queue/lua', 'app/lua'],
  ['scripts/models/generate.py', 'models/generate.py'],
];

/**
 * Bundles the check into `<pack>/app/`: `check.js` (run it with node from the project root), `gpu.js`
 * (bench:gpu, which check.js starts as a child) and `inference-worker.js` (the worker thread
 * `worker-inference-host.ts` starts beside itself). Returns the bytes written.
 */
export async function bundleGpuCheck(pack: string): Promise<number> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: {
      check: 'scripts/gpu/check.ts',
      gpu: 'scripts/bench/gpu.ts',
      'inference-worker': 'services/scoring/inference-worker.ts',
    },
    outdir: join(pack, 'app'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    external: [...RUNTIME_PACKAGES],
    // CommonJS dependencies inlined into ESM still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __quiverRequire } from 'node:module'; const require = __quiverRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: 'warning',
  });
  for (const [from, to] of BESIDE) {
    await mkdir(join(pack, to, '..'), { recursive: true });
    await cp(join(root, from), join(pack, to), { recursive: true });
  }
  return Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
}
