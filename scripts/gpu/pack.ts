/**
 * npm run gpu:pack — everything the prepared device check needs on an accelerator host that has no Node,
 * no registry, no python3-onnx, and takes at most 64 MiB for all that travels (the work tree included):
 * - `.gpu/node.xz`: this node, symbols stripped;
 * - `.gpu/debs/`: the Vulkan loader and glvnd (what ONNX Runtime's WebGPU provider needs to reach the NVIDIA
 *   driver) and redis-server (for the check's pipeline job), as Debian packages `enter.sh` unpacks;
 * - `.gpu/app.tar.xz`: the check bundled (`scripts/gpu/bundle.ts`), every pure-JS dependency inlined;
 * - `.gpu/node_modules.tar.xz`: only the native packages the bundle leaves out, Linux x64 only, stripped;
 * - `.gpu/models.tar.xz`: the models the check scores (their weights compress: `scripts/models/generate.py`).
 * `../shared/gpu/pack.sh` carries the whole of node_modules instead, which with the models no longer fits.
 * Then, on the lent machine, one call with carry [".gpu"]:
 *   bash .gpu/enter.sh bash scripts/gpu-check.sh
 * Prints the bytes that would travel as one JSON line and exits 1 when they are over the limit.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { RUNTIME_PACKAGES, bundleGpuCheck } from './bundle.js';
import { gpuCheckModels, modelPath } from '../lib/models.js';

const root = resolve(import.meta.dirname, '../..');
const pack = join(root, '.gpu');
const limit = 64 * 1024 * 1024;
/** Debian packages `enter.sh` unpacks into `/`: WebGPU's loaders, then redis-server and what it links. */
const DEBS = [
  'libvulkan1',
  'libglvnd0',
  'libglx0',
  'libegl1',
  'libopengl0',
  'libgl1',
  'libgles2',
  'redis-server',
  'redis-tools',
  'libjemalloc2',
  'liblzf1',
  'libatomic1',
];

const run = (command: string, args: string[], cwd = root): void => {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};
/** `tar` of `paths` (relative to `cwd`) through `xz -6` into `to`; `tar` options such as excludes first. */
const tarXz = (cwd: string, to: string, paths: string[], options: string[] = []): void => {
  execFileSync(
    'sh',
    ['-c', 'out=$1; shift; tar cf - "$@" | xz -T2 -6 > "$out"', 'tar', to, ...options, ...paths],
    {
      cwd,
    },
  );
};

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

async function packDebs(): Promise<void> {
  const debs = join(pack, 'debs');
  await mkdir(debs, { recursive: true });
  try {
    run('apt-get', ['download', ...DEBS], debs);
  } catch {
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['download', ...DEBS], debs);
  }
}

/** The native packages, without other platforms' binaries, typings or maps; shared libraries stripped. */
async function packNodeModules(): Promise<void> {
  const stage = join(pack, 'stage');
  await rm(stage, { recursive: true, force: true });
  for (const name of RUNTIME_PACKAGES) {
    const to = join(stage, 'node_modules', name);
    await mkdir(join(to, '..'), { recursive: true });
    run('cp', ['-a', join(root, 'node_modules', name), to]);
  }
  const ort = join(stage, 'node_modules/onnxruntime-node/bin/napi-v6');
  for (const platform of await readdir(ort)) {
    if (platform !== 'linux') await rm(join(ort, platform), { recursive: true });
  }
  for (const arch of await readdir(join(ort, 'linux'))) {
    if (arch !== 'x64') await rm(join(ort, 'linux', arch), { recursive: true });
  }
  // parquet-wasm's builds for bundlers and browsers; Node loads `node/`.
  for (const build of ['bundler', 'esm'])
    await rm(join(stage, 'node_modules/parquet-wasm', build), { recursive: true });
  const duckdb = join(stage, 'node_modules/@duckdb/node-bindings-linux-x64');
  for (const file of await readdir(duckdb)) {
    if (file.endsWith('.so')) run('strip', ['--strip-unneeded', join(duckdb, file)]);
  }
  const typingsAndDocs = ['*.map', '*.d.ts', '*.d.mts', '*.d.cts', '*.md'];
  tarXz(
    stage,
    join(pack, 'node_modules.tar.xz'),
    ['node_modules'],
    typingsAndDocs.map((pattern) => `--exclude=${pattern}`),
  );
  await rm(stage, { recursive: true });
}

async function packModels(): Promise<void> {
  const files = await Promise.all(gpuCheckModels.map((name) => modelPath(name)));
  const cache = join(root, '.cache');
  tarXz(
    cache,
    join(pack, 'models.tar.xz'),
    files.map((file) => relative(cache, file)),
  );
}

/** What travels besides `.gpu`: git's tracked and untracked-but-not-ignored files. */
async function treeBytes(): Promise<number> {
  const files = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], { cwd: root })
    .toString()
    .split('\0')
    .filter((file) => file !== '');
  let total = 0;
  // A file listed but deleted in the work tree does not travel.
  for (const file of files) total += (await stat(join(root, file)).catch(() => undefined))?.size ?? 0;
  return total;
}

const exclude = join(root, '.git/info/exclude');
const excluded = await readFile(exclude, 'utf8').catch(() => '');
if (!excluded.split('\n').includes('/.gpu/')) await writeFile(exclude, `${excluded}/.gpu/\n`);
await rm(pack, { recursive: true, force: true });
await mkdir(pack, { recursive: true });
await copyFile(join(import.meta.dirname, 'enter.sh'), join(pack, 'enter.sh'));
const stripped = join(pack, 'node');
run('strip', ['--strip-unneeded', '-o', stripped, process.execPath]);
execFileSync('sh', ['-c', 'xz -T2 -6 -c "$1" > "$2"', 'xz', stripped, join(pack, 'node.xz')]);
await rm(stripped);
await packDebs();
// The bundle travels compressed too; gpu-check.sh unpacks it where there is no tsx.
const bundleBytes = await bundleGpuCheck(pack);
tarXz(pack, join(pack, 'app.tar.xz'), ['app', 'models']);
await rm(join(pack, 'app'), { recursive: true });
await rm(join(pack, 'models'), { recursive: true });
await packNodeModules();
await packModels();

const parts: Record<string, number> = {};
for (const entry of await readdir(pack)) parts[basename(entry)] = await sizeOf(join(pack, entry));
const gpuBytes = Object.values(parts).reduce((a, b) => a + b, 0);
const tree = await treeBytes();
const travels = gpuBytes + tree;
console.log(
  JSON.stringify({
    pack: '.gpu',
    bytes: parts,
    bundleBytes,
    gpuBytes,
    treeBytes: tree,
    travelsBytes: travels,
    limitBytes: limit,
    fits: travels <= limit,
  }),
);
if (travels > limit) process.exitCode = 1;
