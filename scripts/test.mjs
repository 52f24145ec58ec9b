// npm test: the unit and integration projects in parallel, then the timing-sensitive project alone (its
// event-loop measurement must not share the CPU with other test files). Ends with one plain line,
// "tests: N passed, N failed, N skipped", and a non-zero exit status if anything failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const reports = join(import.meta.dirname, '..', '.cache', 'test-reports');
mkdirSync(reports, { recursive: true });
const extra = process.argv.slice(2);
const runs = [
  ['--project', 'unit', '--project', 'integration'],
  ['--project', 'timing'],
];
const totals = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
runs.forEach((projects, i) => {
  const report = join(reports, `run-${i}.json`);
  rmSync(report, { force: true });
  const args = [
    'vitest',
    'run',
    ...projects,
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${report}`,
    ...extra,
  ];
  const result = spawnSync('npx', args, { stdio: 'inherit' });
  if (result.status !== 0) status = result.status ?? 1;
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += r.numPendingTests + r.numTodoTests;
  } catch {
    status ||= 1;
  }
});
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = status;
