import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUNTIME_PACKAGES, bundleGpuCheck } from '../../scripts/gpu/bundle.js';
import { listHostGpus } from '../../services/scoring/gpu-binding.js';

const root = join(import.meta.dirname, '../..');
const cpuArgs = ['--device', 'cpu', '--rows', '2048', '--job-rows', '8192', '--seconds', '1'];

/** Runs a command of the device check in `cwd` and parses its JSON lines. */
function run(command: string, args: string[], cwd = root) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 150_000 });
  const lines = result.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { status: result.status, lines, stderr: result.stderr };
}

const gpuCheck = (args: string[]) => run('bash', ['scripts/gpu-check.sh', ...args]);

/** What a `--device cpu` run prints when every check passed. */
function expectCpuRun({ status, lines, stderr }: ReturnType<typeof run>): void {
  expect(status, stderr).toBe(0);
  // The bound child processes the GPU checks start, run here on the CPU.
  expect(lines[0]).toMatchObject({ check: 'adapters', device: 'cpu', probe: { device: 'cpu' } });
  expect(lines[0]!.score).toMatchObject({ device: 'cpu', rowsPerSec: expect.any(Number) as number });
  const equality = lines.filter((l) => l.check === 'equality');
  expect(equality.map((l) => l.model)).toEqual([
    'tabular-mlp',
    'tree-ensemble',
    'multiclass',
    'compute-heavy',
    'compute-heavy-fp16',
  ]);
  for (const line of equality) {
    expect(line).toMatchObject({ device: 'cpu', rows: 2048, pass: true });
    // Every output column was compared (multiclass: its probabilities list and its label).
    expect(Object.keys(line.columns as object).length).toBeGreaterThanOrEqual(2);
  }
  expect(equality[2]!.columns).toEqual({
    id: { unequal: 0 },
    probabilities: { worstRelative: 0 },
    label: { unequal: 0 },
  });
  expect(lines.find((l) => l.check === 'job')).toMatchObject({
    rows: 8192,
    device: 'cpu',
    columns: { id: { unequal: 0 }, score: { worstRelative: 0 } },
    pass: true,
  });
}

describe('scripts/gpu-check.sh (the prepared device check)', () => {
  it('runs its equality and job checks end to end, CPU against CPU, through the engine and the pipeline', () => {
    expectCpuRun(gpuCheck(cpuArgs));
  }, 180_000);

  it('runs the same from the bundle `npm run gpu:pack` carries, beside only the native packages', async () => {
    // A project root as the accelerator host sees it: no tsx, no node_modules but RUNTIME_PACKAGES.
    const host = await mkdtemp(join(tmpdir(), 'quiver-gpu-pack-'));
    try {
      await bundleGpuCheck(join(host, '.gpu'));
      for (const name of RUNTIME_PACKAGES) {
        await mkdir(join(host, 'node_modules', name, '..'), { recursive: true });
        await symlink(join(root, 'node_modules', name), join(host, 'node_modules', name));
      }
      await symlink(join(root, '.cache'), join(host, '.cache'));
      expectCpuRun(run(process.execPath, ['.gpu/app/check.js', ...cpuArgs], host));
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  }, 180_000);

  it.skipIf(listHostGpus().length > 0)(
    'says why, and exits 2, on a host where no GPU adapter opens',
    () => {
      const { status, lines } = gpuCheck([]);
      expect(status).toBe(2);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ check: 'adapters', gpus: [] });
      expect(lines[0]!.missing).toMatch(/no GPU is visible/);
    },
    60_000,
  );
});
