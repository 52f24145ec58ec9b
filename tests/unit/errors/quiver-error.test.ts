import { describe, expect, it } from 'vitest';
import { CommitsIncomplete } from '../../../jobs/finalize/errors/commits-incomplete.js';
import { InvalidJobTransition } from '../../../jobs/errors/invalid-job-transition.js';
import { ModelChanged } from '../../../jobs/errors/model-changed.js';
import { RowsRejectedOverLimit } from '../../../jobs/errors/rows-rejected-over-limit.js';
import { jobErrorOf } from '../../../jobs/job-error.js';
import { EmptyInputError } from '../../../jobs/plan/errors/empty-input-error.js';
import { TooManyChunks } from '../../../jobs/plan/errors/too-many-chunks.js';
import { IncompleteRead } from '../../../jobs/ports/errors/incomplete-read.js';
import { InvalidStorageUri } from '../../../jobs/ports/errors/invalid-storage-uri.js';
import { ObjectChanged } from '../../../jobs/ports/errors/object-changed.js';
import { StorageAccessDenied } from '../../../jobs/ports/errors/storage-access-denied.js';
import { StorageError } from '../../../jobs/ports/errors/storage-error.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { StorageUnavailable } from '../../../jobs/ports/errors/storage-unavailable.js';
import { StoreFull } from '../../../jobs/ports/errors/store-full.js';
import { AttemptStopped } from '../../../jobs/score/errors/attempt-stopped.js';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { isPermanent, QuiverError } from '../../../schemas/errors/quiver-error.js';
import { RequestInvalid } from '../../../services/api/errors/request-invalid.js';
import { BadDataError, type BadDataCode } from '../../../services/formats/errors/bad-data-error.js';
import { ParquetFooterTooLarge } from '../../../services/formats/errors/parquet-footer-too-large.js';
import { RecordTooLong } from '../../../services/formats/errors/record-too-long.js';
import { DeviceListError } from '../../../services/scoring/errors/device-list-error.js';
import { DeviceUnavailableError } from '../../../services/scoring/errors/device-unavailable-error.js';
import {
  FeatureMappingError,
  type FeatureMappingCode,
} from '../../../services/scoring/errors/feature-mapping-error.js';
import { InferenceError, type InferenceCode } from '../../../services/scoring/errors/inference-error.js';
import { InferenceHostClosedError } from '../../../services/scoring/errors/inference-host-closed-error.js';
import { InferenceWorkerCrashedError } from '../../../services/scoring/errors/inference-worker-crashed-error.js';
import { ModelDigestMismatch } from '../../../services/scoring/errors/model-digest-mismatch.js';
import { ModelLoadError, type ModelLoadCode } from '../../../services/scoring/errors/model-load-error.js';
import { ModelTooLarge } from '../../../services/scoring/errors/model-too-large.js';
import { OutputOverlapsInput } from '../../../services/tenancy/errors/output-overlaps-input.js';
import { StorageForbidden } from '../../../services/tenancy/errors/storage-forbidden.js';
import { ChunkStalled } from '../../../services/worker/errors/chunk-stalled.js';

const URI = 's3://bucket/in/part-0.csv';

describe('QuiverError: one base for every module', () => {
  it('storage: the class, its code, permanence and the object in location', () => {
    const missing = new StorageNotFound(URI, 'key');
    expect(missing).toBeInstanceOf(StorageError);
    expect(missing).toBeInstanceOf(QuiverError);
    expect(missing).toMatchObject({ name: 'StorageNotFound', code: 'STORAGE_NOT_FOUND', permanent: true });
    expect(missing.location).toEqual({ uri: URI });
    expect(missing.uri).toBe(URI);

    const flaky = new StorageUnavailable(URI, 3, { cause: new Error('ECONNRESET') });
    expect(flaky).toBeInstanceOf(QuiverError);
    expect(flaky).toMatchObject({ code: 'STORAGE_UNAVAILABLE', permanent: false, location: { uri: URI } });
    expect(flaky.cause).toBeInstanceOf(Error);
  });

  it('formats: bad data names the object, row, byte offset and column', () => {
    const where = { uri: URI, row: 7, byteOffset: 1234, column: 'f3' };
    const bad = new BadDataError('CSV_RAGGED_ROW', 'expected 4 fields, found 3', where);
    expect(bad).toBeInstanceOf(QuiverError);
    expect(bad).toMatchObject({ name: 'BadDataError', code: 'CSV_RAGGED_ROW', permanent: true });
    expect(bad.location).toEqual(where);
    expect(bad.message).toBe(
      `CSV_RAGGED_ROW: expected 4 fields, found 3 (${URI}, row 7, byte 1234, column "f3")`,
    );

    const long = new RecordTooLong('jsonl', URI, 4096, 1024);
    expect(long).toBeInstanceOf(QuiverError);
    expect(long).toMatchObject({ code: 'JSONL_RECORD_TOO_LONG', permanent: true });
    expect(long.location).toEqual({ uri: URI, byteOffset: 4096 });
  });

  it('scoring: mapping errors start at their column and batch row; a failed run is not permanent', () => {
    const mapping = new FeatureMappingError('FEATURE_NULL', 'f3 is null', {
      input: 'x',
      column: 'f3',
      row: 2,
    });
    expect(mapping).toBeInstanceOf(QuiverError);
    expect(mapping).toMatchObject({ code: 'FEATURE_NULL', permanent: true });
    expect(mapping.location).toEqual({ column: 'f3', row: 2 });
    expect(mapping.where).toEqual({ input: 'x', column: 'f3', row: 2 });

    const feed = new InferenceError('INPUT_SHAPE_MISMATCH', 'x has 3 columns, the model 4', { input: 'x' });
    expect(feed).toMatchObject({ code: 'INPUT_SHAPE_MISMATCH', permanent: true, location: {} });
    const run = new InferenceError('INFERENCE_FAILED', 'CUDA out of memory');
    expect(run).toBeInstanceOf(QuiverError);
    expect(run).toMatchObject({ code: 'INFERENCE_FAILED', permanent: false });

    const load = new ModelLoadError('MODEL_INVALID', 's3://bucket/model.onnx', 'bad protobuf');
    expect(load).toMatchObject({
      code: 'MODEL_INVALID',
      permanent: true,
      location: { uri: 's3://bucket/model.onnx' },
    });
  });

  it('jobs: job failures carry their place; a lost attempt or a stalled chunk is retried', () => {
    const changed = new ModelChanged('s3://bucket/model.onnx', 'a'.repeat(64), 'b'.repeat(64));
    expect(changed).toBeInstanceOf(QuiverError);
    expect(changed).toMatchObject({
      name: 'ModelChanged',
      code: ModelChanged.code,
      permanent: true,
      location: { uri: 's3://bucket/model.onnx' },
    });
    const stopped = new AttemptStopped('job-1', 3, 'superseded');
    expect(stopped).toBeInstanceOf(QuiverError);
    expect(stopped).toMatchObject({ code: 'ATTEMPT_STOPPED', permanent: false, location: {} });
    const stalled = new ChunkStalled('no progress for 600 s; the chunk will be retried');
    expect(stalled).toMatchObject({ name: 'ChunkStalled', code: 'CHUNK_STALLED', permanent: false });
    expect(stalled.message).toBe('no progress for 600 s; the chunk will be retried');
  });

  it('api: submission refusals name the spec field', () => {
    const forbidden = new StorageForbidden(URI, 'read', ['s3://other/'], 'input.uri');
    expect(forbidden).toBeInstanceOf(QuiverError);
    expect(forbidden).toMatchObject({ code: 'STORAGE_FORBIDDEN', permanent: true });
    expect(forbidden.location).toEqual({ uri: URI, field: 'input.uri' });
    const overlap = new OutputOverlapsInput('s3://bucket/in/out/', 's3://bucket/in/');
    // Like a storage refusal, it stays so on a retry: a schedule's tick that renders it fails for good.
    expect(overlap).toMatchObject({
      code: 'OUTPUT_OVERLAPS_INPUT',
      permanent: true,
      location: { uri: 's3://bucket/in/out/', field: 'output.uri' },
    });
    const invalid = new RequestInvalid([{ path: 'query.limit', message: 'expected a number' }]);
    expect(invalid).toBeInstanceOf(QuiverError);
    expect(invalid).toMatchObject({
      code: 'REQUEST_INVALID',
      permanent: false,
      problems: [{ path: 'query.limit' }],
    });
  });
});

describe('permanent codes', () => {
  /** Every code of each class with several, so a new code must be placed here (the Record is exhaustive). */
  const badData: Record<BadDataCode, true> = {
    PARQUET_INVALID: true,
    ARROW_INVALID: true,
    CSV_RAGGED_ROW: true,
    CSV_INVALID: true,
    JSONL_INVALID_JSON: true,
    JSONL_INVALID_RECORD: true,
    VALUE_INVALID: true,
    SCHEMA_MISMATCH: true,
  };
  const mapping: Record<FeatureMappingCode, true> = {
    FEATURE_COLUMN_MISSING: true,
    FEATURE_WIDTH_MISMATCH: true,
    FEATURE_TYPE_UNSUPPORTED: true,
    FEATURE_NULL: true,
    FEATURE_MAPPING_AMBIGUOUS: true,
    FEATURE_INPUT_UNKNOWN: true,
    MODEL_OUTPUT_UNSUPPORTED: true,
  };
  const inference: Record<InferenceCode, true> = {
    INPUT_MISSING: true,
    INPUT_UNKNOWN: true,
    INPUT_TYPE_MISMATCH: true,
    INPUT_SHAPE_MISMATCH: true,
    OUTPUT_UNSUPPORTED: true,
    INFERENCE_FAILED: true,
  };
  const modelLoad: Record<ModelLoadCode, true> = {
    MODEL_NOT_FOUND: true,
    MODEL_INVALID: true,
    MODEL_LOAD_FAILED: true,
  };
  const keys = <K extends string>(record: Record<K, true>) => Object.keys(record) as K[];

  /** One of every error a plan, score or finalize step can raise. */
  const raised: QuiverError[] = [
    ...keys(badData).map((code) => new BadDataError(code, 'bad', { uri: URI })),
    ...keys(mapping).map((code) => new FeatureMappingError(code, 'unmappable')),
    ...keys(inference).map((code) => new InferenceError(code, 'failed')),
    ...keys(modelLoad).map((code) => new ModelLoadError(code, 'model.onnx', 'failed')),
    new RecordTooLong('csv', URI, 0, 1),
    new RecordTooLong('jsonl', URI, 0, 1),
    new ParquetFooterTooLarge(URI, 2, 1),
    new ModelDigestMismatch(URI, 'a', 'b'),
    new ModelTooLarge(URI, 2, 1),
    new ModelChanged(URI, 'a', 'b'),
    new ObjectChanged(URI, 'a', 'b'),
    new EmptyInputError(URI, undefined, 'no objects'),
    new StorageNotFound(URI, 'file'),
    new StorageAccessDenied(URI),
    new StorageForbidden(URI, 'read', []),
    new InvalidStorageUri(URI, 'no bucket'),
    new DeviceUnavailableError('cuda:1', 'no such GPU'),
    new RowsRejectedOverLimit(2, 10, 0.1, URI),
    new TooManyChunks(10, 1),
    // Retried:
    new StorageUnavailable(URI, 3),
    new IncompleteRead(URI, 10, 5),
    new StoreFull(),
    new InferenceHostClosedError(),
    new InferenceWorkerCrashedError('exit 1'),
    new DeviceListError('gpu:x', 'bad index'),
    new AttemptStopped('job-1', 0, 'committed'),
    new InvalidJobTransition('succeeded', 'running'),
    new CommitsIncomplete('chunk 0 has no accepted commit yet'),
    new ChunkStalled('no progress'),
    new JobSpecInvalid([{ path: 'model.uri', message: 'required' }]),
  ];

  it('are exactly the codes the worker failed jobs at once for before the base class', () => {
    const permanent = raised.filter(isPermanent).map((e) => e.code);
    expect(new Set(permanent).size).toBe(permanent.length);
    expect(permanent.sort()).toEqual(
      [
        'PARQUET_INVALID',
        'ARROW_INVALID',
        'CSV_RAGGED_ROW',
        'CSV_INVALID',
        'JSONL_INVALID_JSON',
        'JSONL_INVALID_RECORD',
        'VALUE_INVALID',
        'SCHEMA_MISMATCH',
        'FEATURE_COLUMN_MISSING',
        'FEATURE_WIDTH_MISMATCH',
        'FEATURE_TYPE_UNSUPPORTED',
        'FEATURE_NULL',
        'FEATURE_MAPPING_AMBIGUOUS',
        'FEATURE_INPUT_UNKNOWN',
        'MODEL_OUTPUT_UNSUPPORTED',
        'MODEL_NOT_FOUND',
        'MODEL_INVALID',
        'MODEL_LOAD_FAILED',
        'MODEL_DIGEST_MISMATCH',
        'MODEL_CHANGED',
        'INPUT_CHANGED',
        'INPUT_EMPTY',
        'STORAGE_NOT_FOUND',
        'STORAGE_ACCESS_DENIED',
        'STORAGE_FORBIDDEN',
        'STORAGE_INVALID_URI',
        'INPUT_MISSING',
        'INPUT_UNKNOWN',
        'INPUT_TYPE_MISMATCH',
        'INPUT_SHAPE_MISMATCH',
        'OUTPUT_UNSUPPORTED',
        'DEVICE_UNAVAILABLE',
        'ROWS_REJECTED_OVER_LIMIT',
        'TOO_MANY_CHUNKS',
        'CSV_RECORD_TOO_LONG',
        'JSONL_RECORD_TOO_LONG',
        'MODEL_TOO_LARGE',
        'PARQUET_FOOTER_TOO_LARGE',
      ].sort(),
    );
  });

  it('come from the class, not the code: an error that only looks like one is not permanent', () => {
    expect(isPermanent(Object.assign(new Error('lookalike'), { code: 'CSV_INVALID' }))).toBe(false);
    expect(isPermanent('CSV_INVALID')).toBe(false);
  });
});

describe('jobErrorOf', () => {
  it('takes the code, message and place from a QuiverError, and the chunk from the caller', () => {
    const bad = new BadDataError('CSV_INVALID', 'unclosed quote', { uri: URI, row: 4, byteOffset: 99 });
    expect(jobErrorOf(bad, 2)).toEqual({
      code: 'CSV_INVALID',
      message: bad.message,
      uri: URI,
      row: 4,
      chunk: 2,
    });
  });

  it('follows a location the scorer filled in after the error was raised', () => {
    const mapping = new FeatureMappingError('FEATURE_NULL', 'f3 is null', { column: 'f3', row: 2 });
    mapping.location = { uri: URI, row: 1002 };
    expect(jobErrorOf(mapping)).toEqual({
      code: 'FEATURE_NULL',
      message: mapping.message,
      uri: URI,
      row: 1002,
    });
  });

  it('calls anything else INTERNAL with its message, whatever code it carries', () => {
    const system = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', uri: URI });
    expect(jobErrorOf(system, 0)).toEqual({ code: 'INTERNAL', message: 'read ECONNRESET', chunk: 0 });
    expect(jobErrorOf('boom')).toEqual({ code: 'INTERNAL', message: 'boom' });
  });
});
