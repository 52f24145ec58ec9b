import { type ConnectionOptions, DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import { processFinalize } from '../../jobs/finalize/process-finalize.js';
import { jobErrorOf } from '../../jobs/job-error.js';
import type { PipelineDeps } from '../../jobs/pipeline-deps.js';
import { isPermanent } from '../../schemas/errors/quiver-error.js';
import { processPlan } from '../../jobs/plan/process-plan.js';
import { processScore } from '../../jobs/score/process-score.js';
import { withTerminalHook } from '../../jobs/terminal-hook.js';
import { type DeliverWorkerOptions, makeDeliverWorker } from '../delivery/deliver-worker.js';
import type { FinalizePayload, PlanPayload, ScorePayload } from '../../jobs/ports/pipeline-queue.js';
import { isStalledOut } from '../queue/bullmq-errors.js';
import type { DeviceClass } from '../../schemas/device-class.js';
import { type PipelineQueues, queueNames, scoreQueueNames } from '../queue/queues.js';
import type { WorkerMetrics } from '../process/metrics.js';
import { ChunkStalled } from './errors/chunk-stalled.js';
import { deferOverShare } from './defer-over-share.js';
import { makeScoreSlots } from './score-slots.js';

export interface PipelineWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  queues: PipelineQueues;
  deps: Omit<PipelineDeps, 'queue'>;
  /**
   * Chunks in progress at once in this process (default 2): while one chunk's rows are on the model, the
   * next one is fetched and decoded, so the accelerator does not wait on I/O (DESIGN invariant 5). Both
   * share the process's one session per model; memory in flight is two chunks.
   */
  scoreConcurrency?: number;
  /**
   * Device classes whose chunks this process takes, one score queue each (see `resources.device`). The
   * process's `scoreConcurrency` is shared between them. Default `['cpu', 'any']`; a GPU worker process
   * passes `['gpu', 'any']` (`QUIVER_SCORE_CLASSES` overrides both).
   */
  scoreClasses?: readonly DeviceClass[];
  /**
   * A chunk that makes no progress (no batch read or scored) for this long is aborted and retried
   * (default 10 min): a hung read or a stuck model never holds a job forever.
   */
  chunkStallMs?: number;
  /** How long a chunk's lock lasts without renewal before another worker takes it over (default 30 s). */
  lockDurationMs?: number;
  /**
   * Webhook delivery: when given, this process also makes the `deliver` queue's attempts (default: it
   * does not). Announcing is separate: set `deps.onTerminal` to the deliveries' `announce`.
   */
  deliver?: Pick<DeliverWorkerOptions, 'ledger' | 'config' | 'resolve'>;
  /** Where failed chunk attempts are counted (`retried` or `failed`); the processors report to `deps.metrics`. */
  metrics?: Pick<WorkerMetrics, 'chunkFailed'>;
}

export type PipelineWorkerState = 'running' | 'draining' | 'stopped';

/**
 * One worker process's share of the pipeline: plan, score and finalize processors on their queues. A
 * permanent failure (bad data, bad mapping, bad model) fails the job at once with its code and place;
 * anything else is retried with backoff, and fails the job only when retries run out.
 */
export function makePipelineWorker(options: PipelineWorkerOptions) {
  const { connection, prefix, queues } = options;
  const { onTerminal } = options.deps;
  const deps: PipelineDeps = {
    ...options.deps,
    store: onTerminal ? withTerminalHook(options.deps.store, onTerminal) : options.deps.store,
    queue: queues,
  };

  const guarded =
    <T extends { jobId: string }>(
      run: (job: Job<T>, signal: AbortSignal) => Promise<void>,
      chunkOf?: (data: T) => number,
    ) =>
    async (job: Job<T>, _token?: string, signal?: AbortSignal): Promise<void> => {
      try {
        await run(job, signal ?? new AbortController().signal);
      } catch (error) {
        if (!isPermanent(error)) throw error;
        await deps.store
          .transition(job.data.jobId, 'failed', { error: jobErrorOf(error, chunkOf?.(job.data)) })
          .catch((e: unknown) =>
            deps.log.error({ jobId: job.data.jobId, err: e }, 'could not record the failure'),
          );
        throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
      }
    };

  const lockDuration = options.lockDurationMs ?? 30_000;
  const common = {
    connection,
    prefix,
    lockDuration,
    // Stalled chunks (a worker killed mid-chunk) are looked for as often as locks expire, so a killed
    // worker's chunk is re-delivered within about one lock duration rather than BullMQ's default 30 s checks.
    stalledInterval: lockDuration,
    // Spot reclaims can hit the same chunk more than once; exactly-once output makes re-running it safe.
    maxStalledCount: 5,
  };
  const scoreConcurrency = options.scoreConcurrency ?? 2;
  const slots = makeScoreSlots(scoreConcurrency);
  /**
   * Holds one of the process's score slots while `run` runs. A chunk taken while every slot is busy
   * waits for one (locked, counted active); when the process drains first, it goes back to its queue
   * without spending an attempt.
   */
  const withScoreSlot =
    (run: (job: Job<ScorePayload>, token?: string, signal?: AbortSignal) => Promise<void>) =>
    async (job: Job<ScorePayload>, token?: string, signal?: AbortSignal): Promise<void> => {
      if (!(await slots.acquire(signal ?? new AbortController().signal))) {
        if (token === undefined) throw new Error('draining: the chunk goes back to its queue');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      try {
        await run(job, token, signal);
      } finally {
        slots.release();
      }
    };
  const scoreClasses: readonly DeviceClass[] = options.scoreClasses ?? ['cpu', 'any'];
  const scoreWorkers = [...new Set(scoreClasses)].map(
    (device) =>
      new Worker<ScorePayload>(
        scoreQueueNames[device],
        withScoreSlot(
          deferOverShare(
            guarded<ScorePayload>(
              (job, signal) =>
                withStallWatchdog(signal, options.chunkStallMs ?? 600_000, (watched, progress) =>
                  processScore(deps, job.data.jobId, job.data.chunk, watched, progress),
                ),
              (data) => data.chunk.index,
            ),
          ),
        ),
        { ...common, concurrency: scoreConcurrency },
      ),
  );
  const workers = [
    new Worker<PlanPayload>(
      queueNames.plan,
      guarded<PlanPayload>((job, signal) => processPlan(deps, job.data.jobId, signal)),
      { ...common, concurrency: 2 },
    ),
    ...scoreWorkers,
    new Worker<FinalizePayload>(
      queueNames.finalize,
      guarded<FinalizePayload>((job, signal) => processFinalize(deps, job.data.jobId, signal)),
      {
        ...common,
        concurrency: 2,
      },
    ),
  ];
  // BullMQ lets a processor whose lock could not be renewed run on (DESIGN, measured): another worker may
  // already hold the chunk. Abort it, so a frozen or partitioned worker stops instead of writing on; the
  // fencing token refuses whatever it would still try to commit.
  for (const worker of workers) {
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) {
        deps.log.warn({ bullJobId: id, queue: worker.name }, 'lock lost; attempt aborted');
        worker.cancelJob(id, `LOCK_LOST: the lock of ${id} could not be renewed; the attempt stops`);
      }
    });
  }
  for (const worker of workers) {
    // A transient failure that ran out of retries fails the job with the last error.
    worker.on('failed', (job, error) => {
      if (!job) return;
      // Our processors record permanent failures themselves before throwing UnrecoverableError; BullMQ's
      // own "stalled more than allowable limit" failure is recorded here, or the job would hang.
      const stalledOut = isStalledOut(error);
      const attemptsLeft = job.attemptsMade < (job.opts.attempts ?? 1);
      if ((scoreWorkers as Worker[]).includes(worker)) {
        options.metrics?.chunkFailed(!stalledOut && !(error instanceof UnrecoverableError) && attemptsLeft);
      }
      if (!stalledOut && (error instanceof UnrecoverableError || attemptsLeft)) return;
      void deps.store
        .transition(job.data.jobId, 'failed', { error: jobErrorOf(error) })
        .catch((e: unknown) =>
          deps.log.error({ jobId: job.data.jobId, err: e }, 'could not record the failure'),
        );
    });
    worker.on('error', (error) => deps.log.error({ err: error }, 'worker error'));
  }

  const deliverWorker =
    options.deliver &&
    makeDeliverWorker({
      ...options.deliver,
      connection,
      prefix,
      queues,
      jobs: deps.store,
      log: deps.log,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      lockDurationMs: lockDuration,
    });

  let state: PipelineWorkerState = 'running';
  let closing: Promise<void> | undefined;
  return {
    deps,
    get state(): PipelineWorkerState {
      return state;
    },
    /** Stops taking work, lets running jobs finish, closes every worker. Safe to call twice. */
    close(): Promise<void> {
      closing ??= (async () => {
        state = 'draining';
        // Before the workers close: chunks waiting for a slot go back to their queues instead of
        // lengthening the drain.
        slots.close();
        await Promise.allSettled(
          [...workers, ...(deliverWorker ? [deliverWorker] : [])].map((w) => w.close()),
        );
        state = 'stopped';
      })();
      return closing;
    },
  };
}

export type PipelineWorker = ReturnType<typeof makePipelineWorker>;

/**
 * Runs `work` with a signal that aborts when `outer` does or when `progress` has not been called for
 * `stallMs`; the work's own failure then surfaces as ChunkStalled.
 */
export async function withStallWatchdog(
  outer: AbortSignal,
  stallMs: number,
  work: (signal: AbortSignal, progress: () => void) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const stalled = new ChunkStalled(
    `no progress for ${Math.round(stallMs / 1000)} s; the chunk will be retried`,
  );
  // BullMQ's cancelJob aborts with a string reason: the work's failure should still be an Error.
  const onOuter = () =>
    controller.abort(outer.reason instanceof Error ? outer.reason : new Error(String(outer.reason)));
  outer.addEventListener('abort', onOuter, { once: true });
  let timer = setTimeout(() => controller.abort(stalled), stallMs);
  const progress = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(stalled), stallMs);
  };
  // Work that ignores the signal (a hung native call) is abandoned, not awaited: the chunk is retried and
  // exactly-once output makes a late finish of the abandoned attempt harmless.
  const abandoned = new Promise<never>((_, reject) =>
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
      once: true,
    }),
  );
  abandoned.catch(() => undefined);
  try {
    await Promise.race([work(controller.signal, progress), abandoned]);
  } catch (error) {
    if (controller.signal.reason === stalled) throw stalled;
    throw error;
  } finally {
    clearTimeout(timer);
    outer.removeEventListener('abort', onOuter);
  }
}
