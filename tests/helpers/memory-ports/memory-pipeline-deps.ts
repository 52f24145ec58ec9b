import type { PipelineDeps } from '../../../jobs/pipeline-deps.js';
import { type CountingMemoryStorage, makeMemoryStorage } from '../memory-storage.js';
import { type RecordingLog, makeRecordingLog } from '../recording-log.js';
import { type RecordingQueue, recordingQueue } from '../recording-queue.js';
import { type FakeReaders, makeFakeReaders } from './fake-readers.js';
import { type FakeScorer, makeFakeScorer } from './fake-scorer.js';
import { type MemoryJobEvents, makeMemoryJobEvents } from './memory-job-events.js';
import { makeMemoryJobStore } from './memory-job-store.js';
import { type RecordingWriters, makeRecordingWriters } from './recording-writers.js';

/** {@link PipelineDeps} whose ports are the in-memory fakes, typed as such so tests can inspect them. */
export interface MemoryPipelineDeps extends PipelineDeps {
  storage: CountingMemoryStorage;
  readers: FakeReaders;
  writers: RecordingWriters;
  scorers: FakeScorer;
  queue: RecordingQueue;
  log: RecordingLog;
  events: MemoryJobEvents;
}

/**
 * Every port of the pipeline in memory (no Redis, storage server or model): the store announces status
 * changes on `events`, and `checkpointMs` defaults to an hour so a chunk commits one segment unless a
 * test asks for more. `overrides` replace any of them.
 */
export function memoryPipelineDeps(overrides: Partial<MemoryPipelineDeps> = {}): MemoryPipelineDeps {
  const events = overrides.events ?? makeMemoryJobEvents();
  return {
    store: makeMemoryJobStore({ events }),
    storage: makeMemoryStorage(),
    readers: makeFakeReaders(),
    writers: makeRecordingWriters(),
    scorers: makeFakeScorer(),
    queue: recordingQueue(),
    log: makeRecordingLog(),
    checkpointMs: 3_600_000,
    ...overrides,
    events,
  };
}
