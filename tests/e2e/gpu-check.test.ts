import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listHostGpus } from '../../services/scoring/gpu-binding.js';

const root = join(import.meta.dirname, '../..');

/** Runs the prepared device check and parses its JSON lines. */
function gpuCheck(args: string[]) {
  const run = spawnSync('bash', ['scripts/gpu-check.sh', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 150_000,
  });
  const lines = run.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { status: run.status, lines, stderr: run.stderr };
}

describe('scripts/gpu-check.sh (the prepared device check)', () => {
  it('runs its equality and job checks end to end, CPU against CPU, through the engine and the pipeline', () => {
    const { status, lines, stderr } = gpuCheck([
      '--device',
      'cpu',
      '--rows',
      '2048',
      '--job-rows',
      '8192',
      '--seconds',
      '1',
    ]);
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
