import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { formatDeviceRequest } from '../scoring/devices.js';
import {
  type HostGpu,
  hasDeviceSelectLayer,
  listHostGpus,
  planDeviceProcesses,
} from '../scoring/gpu-binding.js';
import type { Log } from '../../jobs/ports/log.js';
import { logOptionsFromEnv, makeLog } from '../process/log.js';
import { metricsPortFromEnv } from '../process/metrics.js';
import type { CompiledWorkerOptions } from './worker-options.js';
import type { SignalSource } from '../process/drain-on-signals.js';

const quiverBin = fileURLToPath(new URL('../cli/quiver.js', import.meta.url));

export interface DeviceSupervisorIo {
  /** Default `process`. */
  signals?: SignalSource;
  /** The children's environment. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The children's stdout/stderr: this process's (default) or discarded. */
  output?: 'inherit' | 'ignore';
  /** Default: {@link makeLog} as `QUIVER_LOG_*` ask. */
  log?: Log;
  /** Called with each child as it starts (tests watch them). */
  onChild?(child: ChildProcess, device: string): void;
  /** This host's GPUs. Default {@link listHostGpus}. */
  gpus?: readonly HostGpu[];
  /** Whether Mesa's Vulkan device-select layer is installed. Default {@link hasDeviceSelectLayer}. */
  deviceSelectLayer?: boolean;
}

/**
 * One child `quiver worker --devices <one>` per device, with the same grace and spot settings. A GPU child
 * is bound to its GPU by its environment ({@link planDeviceProcesses}) and asks for it as its GPU 0. SIGTERM and
 * SIGINT go to every child (a second one forces them too, as it does a single worker). A child that ends
 * on its own drains the others, so an orchestrator sees the failure and restarts the whole set. Resolves,
 * once every child has ended, with 0 or the first child's failing status (128 + signal when killed).
 */
export async function superviseDevices(
  options: CompiledWorkerOptions,
  io: DeviceSupervisorIo = {},
): Promise<number> {
  const gpus = options.devices.some((d) => d.kind !== 'cpu') ? (io.gpus ?? listHostGpus()) : [];
  const plan = planDeviceProcesses(options.devices, gpus);
  const signals = io.signals ?? process;
  const log = (io.log ?? makeLog(logOptionsFromEnv(process.env))).child({ role: 'supervisor' });
  const children = new Map<ChildProcess, string>();
  let stopping = false;
  let exitCode = 0;

  const forward = (signal: NodeJS.Signals): void => {
    stopping = true;
    log.info({ signal, workers: children.size }, 'forwarding signal to device workers');
    for (const child of children.keys()) child.kill(signal);
  };
  const drainSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  for (const signal of drainSignals) signals.on(signal, forward);

  const env = io.env ?? process.env;
  const metricsPort = metricsPortFromEnv(env);
  if (
    plan.filter((p) => p.gpu !== undefined).length > 1 &&
    !(io.deviceSelectLayer ?? hasDeviceSelectLayer())
  ) {
    log.warn(
      { devices: plan.map((p) => p.label) },
      "Mesa's Vulkan device-select layer is not installed (mesa-vulkan-drivers): each process is bound to " +
        'its GPU for CUDA, but WebGPU processes all take the default adapter',
    );
  }
  const ended = plan.map(({ label, device, env: bound, gpu }, index) => {
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        quiverBin,
        'worker',
        '--devices',
        formatDeviceRequest(device),
        '--grace-seconds',
        String(options.shutdownGraceMs / 1000),
        '--spot-notice-url',
        options.spotNoticeUrl ?? 'off',
      ],
      {
        stdio: ['ignore', io.output ?? 'inherit', io.output ?? 'inherit'],
        // One port per device process: `QUIVER_METRICS_PORT` + its index (0 keeps picking a free one).
        env: {
          ...env,
          ...bound,
          ...(metricsPort !== 'off' &&
            metricsPort !== 0 && { QUIVER_METRICS_PORT: String(metricsPort + index) }),
        },
      },
    );
    children.set(child, label);
    log.info(
      { device: label, childPid: child.pid, ...(gpu?.pciBusId !== undefined && { pciBusId: gpu.pciBusId }) },
      'device worker started',
    );
    io.onChild?.(child, label);
    return new Promise<void>((resolve) => {
      const end = (status: number, message: string, context: Record<string, unknown>) => {
        if (!children.delete(child)) return;
        if (status !== 0 && exitCode === 0) exitCode = status;
        log[status === 0 ? 'info' : 'error']({ device: label, ...context }, message);
        if (!stopping && children.size > 0) forward('SIGTERM');
        resolve();
      };
      child.on('exit', (code, signal) =>
        end(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0), 'device worker exited', {
          code,
          signal,
        }),
      );
      child.on('error', (error) => end(1, 'device worker could not start', { err: error }));
    });
  });
  await Promise.all(ended);
  for (const signal of drainSignals) signals.off(signal, forward);
  return exitCode;
}
