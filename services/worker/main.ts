import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { detectGpuCount, formatDeviceRequest } from '../scoring/devices.js';
import { makeJsonLog } from './json-log.js';
import { type CompiledWorkerOptions, loadWorkerConfig, wantsWorkerHelp } from './worker-options.js';
import { runWorkerProcess } from './worker-process.js';

const quiverBin = fileURLToPath(new URL('../cli/quiver.js', import.meta.url));

/**
 * `quiver worker`: parses the configuration (invalid values stop here, naming the variable) and runs one
 * worker process per device: in this process for one device, else one child process each, with signals
 * forwarded. Returns the exit code for usage errors; a running worker ends the process itself.
 */
export async function workerMain(args: string[], usage: string): Promise<number> {
  if (wantsWorkerHelp(args)) {
    process.stdout.write(usage);
    return 0;
  }
  let config;
  try {
    config = loadWorkerConfig(args, process.env, { gpuCount: detectGpuCount() });
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    process.stderr.write(`quiver worker: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (config.worker.devices.length > 1) return superviseDevices(config.worker);
  // Exit explicitly: a drain that ran out of grace, or a forced stop, leaves work and sockets behind.
  process.exit(await runWorkerProcess(config).exited);
}

/**
 * One child `quiver worker --devices <one>` per device, sharing this process's environment and output.
 * Signals go to every child (a second one forces them too). A child that ends on its own drains the
 * others, so an orchestrator sees the failure and restarts the whole set.
 */
async function superviseDevices(options: CompiledWorkerOptions): Promise<number> {
  const log = makeJsonLog({ pid: process.pid, role: 'supervisor' });
  const children = new Map<ChildProcess, string>();
  let stopping = false;
  let exitCode = 0;

  const forward = (signal: NodeJS.Signals): void => {
    stopping = true;
    log.info('forwarding signal to device workers', { signal, workers: children.size });
    for (const child of children.keys()) child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  for (const signal of signals) process.on(signal, forward);

  const done = options.devices.map((device) => {
    const label = formatDeviceRequest(device);
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        quiverBin,
        'worker',
        '--devices',
        label,
        '--grace-seconds',
        String(options.shutdownGraceMs / 1000),
        '--spot-notice-url',
        options.spotNoticeUrl ?? 'off',
      ],
      { stdio: 'inherit', env: process.env },
    );
    children.set(child, label);
    log.info('device worker started', { device: label, childPid: child.pid });
    return new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        children.delete(child);
        const status = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
        if (status !== 0 && exitCode === 0) exitCode = status;
        (status === 0 ? log.info : log.error)('device worker exited', { device: label, code, signal });
        if (!stopping) forward('SIGTERM');
        resolve();
      });
      child.on('error', (error) => {
        children.delete(child);
        log.error('device worker could not start', { device: label, error: error.message });
        if (exitCode === 0) exitCode = 1;
        if (!stopping) forward('SIGTERM');
        resolve();
      });
    });
  });
  await Promise.all(done);
  for (const signal of signals) process.off(signal, forward);
  return exitCode;
}
