import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelPath } from '../../scripts/lib/models.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');

describe('quiver CLI (the real binary)', () => {
  let dir: string;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [quiver, ...args], {
      encoding: 'utf8',
      env: { ...process.env, QUIVER_MODEL_CACHE: join(dir, 'models') },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('inspect-model prints inputs and outputs, as text and as JSON', async () => {
    const path = await modelPath('multiclass');
    const text = run('inspect-model', path);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('features: float32 [N, 32]');
    expect(text.stdout).toContain('probabilities: float32 [N, 5]');
    expect(text.stdout).toContain('label: int64 [N]');
    const json = run('inspect-model', '--json', path);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as { sha256: string; outputs: Array<{ name: string }> };
    expect(report.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.outputs.map((o) => o.name)).toEqual(['probabilities', 'label']);
  });

  it('exits 1 naming the code for a bad model or a digest mismatch, and 2 for bad usage', async () => {
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, 'not a model');
    const invalid = run('inspect-model', bad);
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain('MODEL_INVALID');
    const mismatch = run('inspect-model', '--sha256', '0'.repeat(64), await modelPath('tabular-mlp'));
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toContain('MODEL_DIGEST_MISMATCH');
    expect(run('inspect-model').status).toBe(2);
    expect(run('frobnicate').status).toBe(2);
    expect(run('--help').status).toBe(0);
  });
});
