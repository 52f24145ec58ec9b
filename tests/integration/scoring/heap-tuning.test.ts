import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

/** Full GCs on the main thread while the real engine scores (tests/helpers/gc-while-scoring.ts). */
async function fullGcsWhileScoring(tuned: boolean): Promise<{ majors: number; rows: number }> {
  const script = join(root, 'tests/helpers/gc-while-scoring.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, tuned ? 'tuned' : 'default'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { majors: number; rows: number };
}

describe("the worker's heap tuning", () => {
  it('stops full GCs running back to back while feature tensors go through an inference thread', async () => {
    const untuned = await fullGcsWhileScoring(false);
    const tuned = await fullGcsWhileScoring(true);
    expect(untuned.rows).toBe(1_400_000);
    expect(tuned.rows).toBe(1_400_000);
    console.log(
      `full GCs scoring 1,400,000 packed rows: ${untuned.majors} by default, ${tuned.majors} tuned`,
    );
    // Measured here: 8–10 by default against 3–4 tuned per 600,000 rows (in the worker, with its larger
    // heap and DuckDB's buffers, 128 against 17 in bench:score). At most half as many, with room for noise.
    expect(untuned.majors).toBeGreaterThanOrEqual(12);
    expect(tuned.majors * 2).toBeLessThanOrEqual(untuned.majors);
  }, 120_000);
});
