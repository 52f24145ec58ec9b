import { createHash } from 'node:crypto';
import { type JobSpec, parseJobSpec } from '../schemas/job-spec.js';
import type { SpecLimits } from '../schemas/spec-limits.js';
import type { JobRecord } from '../schemas/job-record.js';
import type { JobStore } from './ports/job-store.js';
import type { PipelineQueue } from './ports/pipeline-queue.js';

export interface SubmitOptions {
  /** Bounds the spec must keep (`schemas/spec-limits.ts`). Default `specLimitDefaults`. */
  limits?: SpecLimits;
  tenant?: string;
  /** Same key + same spec → the same job; same key + another spec → IdempotencyConflict. */
  idempotencyKey?: string;
}

/**
 * The job id of an idempotent submission is derived from the tenant and key, so a resubmission after Redis
 * lost every record still addresses the same output folder, whose commit markers let finished chunks be
 * skipped (DESIGN invariant 3).
 */
export function idempotentJobId(tenant: string, key: string): string {
  return createHash('sha256').update(`${tenant}\n${key}`).digest('hex').slice(0, 32);
}

/** Validates the spec (a `JobSpecInput`, or anything: errors name every field path), records the job and queues its planning. */
export async function submitJob(
  deps: {
    store: JobStore;
    queue: Pick<PipelineQueue, 'enqueuePlan'>;
    /**
     * Refuses a spec the tenant may not run (its URIs outside the tenant's storage grants): throws, and
     * nothing is recorded. Absent: every valid spec is accepted (in-process use, tests).
     */
    authorize?: (spec: JobSpec, tenant: string) => Promise<void>;
  },
  input: unknown,
  options: SubmitOptions = {},
): Promise<{ record: JobRecord; created: boolean }> {
  const spec = parseJobSpec(input, options.limits);
  const tenant = options.tenant ?? 'default';
  await deps.authorize?.(spec, tenant);
  const created = await deps.store.create(spec, {
    tenant,
    ...(options.idempotencyKey
      ? { idempotencyKey: options.idempotencyKey, id: idempotentJobId(tenant, options.idempotencyKey) }
      : {}),
  });
  if (created.created || created.record.status === 'queued')
    await deps.queue.enqueuePlan(created.record.id, spec.priority);
  return created;
}
