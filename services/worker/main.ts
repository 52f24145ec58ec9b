import { detectGpuCount } from '../scoring/devices.js';
import { tuneHeapForBulkData } from '../process/heap-tuning.js';
import { metricsPortFromEnv } from '../process/metrics.js';
import { superviseDevices } from './device-supervisor.js';
import { needsDeviceProcesses } from '../scoring/gpu-binding.js';
import { loadWorkerConfig, wantsWorkerHelp } from './worker-options.js';
import { runWorkerProcess } from './worker-process.js';

/**
 * `quiver worker`: parses the configuration (invalid values stop here, naming the variable) and runs one
 * worker process per device: in this process for one device (the CPU, or the host's only GPU), else one
 * child process each, bound to its GPU, with signals forwarded. Returns the exit code for usage errors; a running worker ends the process itself.
 */
export async function workerMain(args: string[], usage: string): Promise<number> {
  if (wantsWorkerHelp(args)) {
    process.stdout.write(usage);
    return 0;
  }
  let config;
  let metricsPort;
  const gpuCount = detectGpuCount();
  try {
    config = loadWorkerConfig(args, process.env, { gpuCount });
    metricsPort = metricsPortFromEnv(process.env);
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    process.stderr.write(`quiver worker: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  // The supervisor runs no workers and serves no metrics: each device process serves its own. One GPU of
  // several runs as a child too, bound to it: in this process Dawn and CUDA would take their first GPU.
  if (needsDeviceProcesses(config.worker.devices, gpuCount)) return superviseDevices(config.worker);
  // Before the first chunk: feature tensors through inference threads otherwise run full GCs back to back.
  tuneHeapForBulkData();
  // Exit explicitly: a drain that ran out of grace, or a forced stop, leaves work and sockets behind.
  process.exit(await runWorkerProcess(config, { metricsPort }).exited);
}
