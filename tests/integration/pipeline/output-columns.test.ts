import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { FEATURES, featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

/**
 * Output columns (issue 19.2): `passthrough: "*"` and `exclude`, and Hive partition columns from input
 * paths, checked against DuckDB reading the same input (`hive_partitioning = true`) and reading Quiver's
 * output back.
 */
describe('output columns: passthrough "*", exclude, Hive partition columns', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let work: string;
  let duck: DuckDBInstance;
  let db: DuckDBConnection;
  let modelBytes: Buffer;

  /** Every input column but the features: one of each type the three text and binary formats share. */
  const keyColumns = `(1000 + range)::BIGINT AS id, 'name-' || range AS name, range % 3 = 0 AS flag, range / 8.0 AS x`;
  const features = (offset: string) =>
    featureColumns.map((c, j) => `((range * 7 + ${j} + ${offset}) % 101 / 101.0)::FLOAT AS ${c}`).join(', ');

  /** Writes `select` under `work/input/<key>` in `format` and uploads it to `s3://events/<key>`. */
  async function writeInput(key: string, select: string, format: 'parquet' | 'csv' | 'jsonl'): Promise<void> {
    const path = join(work, 'input', key);
    await mkdir(dirname(path), { recursive: true });
    const options =
      format === 'parquet' ? 'FORMAT parquet' : format === 'csv' ? 'FORMAT csv, HEADER' : 'FORMAT json';
    await db.run(`COPY (${select}) TO '${path}' (${options})`);
    await s3.storage.write(`s3://events/${key}`, await readFile(path));
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'quiver-columns-'));
    duck = await DuckDBInstance.create(':memory:');
    db = await duck.connect();
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    modelBytes = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/mlp.onnx', modelBytes);
    for (const format of ['parquet', 'csv', 'jsonl'] as const) {
      await writeInput(
        `flat/data.${format}`,
        `SELECT ${keyColumns}, ${features('0')} FROM range(300)`,
        format,
      );
    }
    // Partitions whose hour is a number (BIGINT) …
    for (const [i, folder] of [
      'dt=2026-11-28/country=de/hour=7',
      'dt=2026-11-29/country=fr%2Fbe/hour=23',
    ].entries()) {
      const select = `SELECT (${i * 200} + range)::BIGINT AS id, ${features(String(i))} FROM range(200)`;
      await writeInput(`hive/${folder}/part.parquet`, select, 'parquet');
      // The same rows as Arrow IPC under the same folders (DuckDB reads no Arrow: its Parquet twin is the
      // reference).
      const rows = (await db.runAndReadAll(select)).getRows();
      const columns: Record<string, BigInt64Array | Float32Array> = {
        id: BigInt64Array.from(rows.map((row) => row[0] as bigint)),
      };
      featureColumns.forEach(
        (c, j) => (columns[c] = Float32Array.from(rows.map((row) => Number(row[j + 1])))),
      );
      await s3.storage.write(
        `s3://events/hive-arrow/${folder}/part.arrow`,
        tableToIPC(tableFromArrays(columns), 'file'),
      );
    }
    // … and ones where DuckDB keeps it a string ("07" is not a canonical integer), in CSV and JSONL.
    for (const format of ['csv', 'jsonl'] as const) {
      for (const [i, folder] of [
        'hour=07/ts=2026-11-28T07:00:00',
        'hour=23/ts=__HIVE_DEFAULT_PARTITION__',
      ].entries()) {
        await writeInput(
          `hive-${format}/${folder}/part.${format}`,
          `SELECT (${i * 100} + range)::BIGINT AS id, ${features(String(i))} FROM range(100)`,
          format,
        );
      }
    }
    pipeline = await startPipeline({ storage: s3.storage });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await s3?.close();
    db?.closeSync();
    duck?.closeSync();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const spec = (
    input: JobSpecInput['input'],
    output: Partial<JobSpecInput['output']>,
    columns = featureColumns,
  ): JobSpecInput => ({
    input,
    model: {
      uri: 's3://models/mlp.onnx',
      inputs: { features: { columns } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: 's3://scores/columns/', ...output },
    batch: { rows: 256, chunkRows: 1_000 },
  });

  async function run(job: JobSpecInput): Promise<JobRecord> {
    const { record } = await submitJob({ store: pipeline.store, queue: pipeline.queues }, job);
    return pipeline.settle(record.id);
  }

  /** DuckDB's column names and types of a query, and its rows (ordered by id) as strings. */
  async function read(select: string): Promise<{ types: Array<[string, string]>; rows: string[][] }> {
    const described = await db.runAndReadAll(`DESCRIBE ${select}`);
    const types = described.getRows().map(([name, type]) => [String(name), String(type)] as [string, string]);
    const rows = (await db.runAndReadAll(`SELECT * FROM (${select}) ORDER BY id`)).getRows();
    return { types, rows: rows.map((row) => row.map((v) => (v === null ? 'NULL' : String(v)))) };
  }

  /** The job's parts (from its manifest), downloaded, read by DuckDB. */
  async function output(record: JobRecord) {
    expect(record.status, JSON.stringify(record.error)).toBe('succeeded');
    const manifest = JSON.parse(
      new TextDecoder().decode(await s3.storage.read(record.output.manifestUri!)),
    ) as {
      parts: Array<{ uri: string }>;
    };
    const files: string[] = [];
    for (const [i, part] of manifest.parts.entries()) {
      const path = join(work, 'out', record.id, `part-${i}.parquet`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await s3.storage.read(part.uri));
      files.push(`'${path}'`);
    }
    return read(`SELECT * FROM read_parquet([${files.join(', ')}])`);
  }

  const inputOf = (format: string, glob: string) =>
    format === 'parquet'
      ? `SELECT * FROM read_parquet('${glob}', hive_partitioning = true)`
      : format === 'csv'
        ? `SELECT * FROM read_csv('${glob}', hive_partitioning = true)`
        : `SELECT * FROM read_json('${glob}', format = 'newline_delimited', hive_partitioning = true)`;

  /** The reference scores: ONNX Runtime on the input's feature columns as DuckDB reads them. */
  async function referenceScores(select: string, columns: string[]): Promise<Float32Array> {
    const rows = (
      await db.runAndReadAll(
        `SELECT ${columns.map((c) => `"${c}"::FLOAT`).join(', ')} FROM (${select}) ORDER BY id`,
      )
    ).getRows();
    const features = new Float32Array(rows.length * FEATURES);
    rows.forEach((row, r) => row.forEach((v, j) => (features[r * FEATURES + j] = Number(v))));
    const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1 });
    try {
      const result = await session.run({
        features: new ort.Tensor('float32', features, [rows.length, FEATURES]),
      });
      return result.score!.data as Float32Array;
    } finally {
      await session.release();
    }
  }

  for (const format of ['parquet', 'csv', 'jsonl'] as const) {
    it(`passthrough "*" over ${format} keeps every input column with its type and values, then the score`, async () => {
      const record = await run(
        spec({ uri: `s3://events/flat/data.${format}`, format }, { passthrough: '*' }),
      );
      const got = await output(record);
      const want = await read(inputOf(format, join(work, 'input', 'flat', `data.${format}`)));
      expect(got.types).toEqual([...want.types, ['score', 'FLOAT']]);
      expect(got.rows.map((row) => row.slice(0, -1))).toEqual(want.rows);
      expect(got.rows).toHaveLength(300);
      // Parquet still packs the mapped features in the decoder, beside every column read whole.
      if (format === 'parquet')
        expect(pipeline.log.withMessage('features packed in the decoder')).toContainEqual(
          expect.objectContaining({ jobId: record.id }),
        );
    });
  }

  it('exclude removes the named columns and keeps the rest in input order', async () => {
    const record = await run(
      spec(
        { uri: 's3://events/flat/data.csv', format: 'csv' },
        { passthrough: '*', exclude: ['name', 'f5'] },
      ),
    );
    const got = await output(record);
    const want = await read(inputOf('csv', join(work, 'input', 'flat', 'data.csv')));
    const kept = want.types.map(([name]) => name).map((name, i) => [name, i] as const);
    const keep = kept.filter(([name]) => name !== 'name' && name !== 'f5');
    expect(got.types).toEqual([...keep.map(([, i]) => want.types[i]!), ['score', 'FLOAT']]);
    expect(got.rows.map((row) => row.slice(0, -1))).toEqual(
      want.rows.map((row) => keep.map(([, i]) => row[i]!)),
    );
  });

  it('fails a job whose exclude names a column the input lacks, naming the column and the object', async () => {
    const record = await run(
      spec(
        { uri: 's3://events/flat/data.parquet', format: 'parquet' },
        { passthrough: '*', exclude: ['nope'] },
      ),
    );
    expect(record.status).toBe('failed');
    expect(record.error).toMatchObject({
      code: 'EXCLUDED_COLUMN_MISSING',
      uri: 's3://events/flat/data.parquet',
    });
    expect(record.error?.message).toContain('"nope"');
  });

  it('fails clearly when "*" brings a column named like a score column', async () => {
    const job = spec({ uri: 's3://events/flat/data.parquet', format: 'parquet' }, { passthrough: '*' });
    job.model.outputs = { score: { column: 'name' } };
    const record = await run(job);
    expect(record.status).toBe('failed');
    expect(record.error).toMatchObject({ code: 'MODEL_OUTPUT_UNSUPPORTED' });
    expect(record.error?.message).toContain('"name"');
  });

  it('turns Hive folders into columns typed as DuckDB types them, usable as a feature and as passthrough', async () => {
    // f63 is replaced by the partition's hour: the score depends on the path.
    const columns = [...featureColumns.slice(0, -1), 'hour'];
    const record = await run(
      spec(
        { uri: 's3://events/hive/', format: 'parquet', hivePartitioning: true },
        { passthrough: '*' },
        columns,
      ),
    );
    const got = await output(record);
    const select = inputOf('parquet', join(work, 'input', 'hive', '**', '*.parquet'));
    const want = await read(select);
    expect(want.types.slice(-3)).toEqual([
      ['country', 'VARCHAR'],
      ['dt', 'DATE'],
      ['hour', 'BIGINT'],
    ]);
    expect(got.types).toEqual([...want.types, ['score', 'FLOAT']]);
    expect(got.rows.map((row) => row.slice(0, -1))).toEqual(want.rows);
    expect(new Set(got.rows.map((row) => row.slice(-4, -1).join(' ')))).toEqual(
      new Set(['de 2026-11-28 7', 'fr/be 2026-11-29 23']),
    );
    // Not packed by the decoder (the hour is not in the file), and the scores are the reference's.
    expect(pipeline.log.withMessage('features packed in the decoder')).not.toContainEqual(
      expect.objectContaining({ jobId: record.id }),
    );
    const reference = await referenceScores(select, columns);
    const scores = got.rows.map((row) => Number(row.at(-1)));
    expect(scores).toHaveLength(400);
    scores.forEach((score, i) => expect(score).toBeCloseTo(reference[i]!, 5));
    // The hour matters: the same rows scored with f63 give other scores.
    const plain = await referenceScores(select, featureColumns);
    expect(scores.some((score, i) => Math.abs(score - plain[i]!) > 1e-4)).toBe(true);
  });

  it('adds Hive columns to Arrow IPC input as to its Parquet twin', async () => {
    const record = await run(
      spec({ uri: 's3://events/hive-arrow/', format: 'arrow', hivePartitioning: true }, { passthrough: '*' }),
    );
    const got = await output(record);
    const want = await read(inputOf('parquet', join(work, 'input', 'hive', '**', '*.parquet')));
    expect(got.types).toEqual([...want.types, ['score', 'FLOAT']]);
    expect(got.rows.map((row) => row.slice(0, -1))).toEqual(want.rows);
  });

  it('reads a named Hive column beside features the decoder packs', async () => {
    const record = await run(
      spec(
        { uri: 's3://events/hive/', format: 'parquet', hivePartitioning: true },
        { passthrough: ['dt', 'id'] },
      ),
    );
    const got = await output(record);
    expect(got.types).toEqual([
      ['dt', 'DATE'],
      ['id', 'BIGINT'],
      ['score', 'FLOAT'],
    ]);
    expect(pipeline.log.withMessage('features packed in the decoder')).toContainEqual(
      expect.objectContaining({ jobId: record.id }),
    );
    const want = await read(
      `SELECT dt, id FROM (${inputOf('parquet', join(work, 'input', 'hive', '**', '*.parquet'))})`,
    );
    expect(got.rows.map((row) => row.slice(0, -1))).toEqual(want.rows);
    const reference = await referenceScores(
      inputOf('parquet', join(work, 'input', 'hive', '**', '*.parquet')),
      featureColumns,
    );
    got.rows.forEach((row, i) => expect(Number(row[2])).toBeCloseTo(reference[i]!, 5));
  });

  for (const format of ['csv', 'jsonl'] as const) {
    it(`types Hive columns of ${format} input as DuckDB does (hour=07 stays a string, a null partition)`, async () => {
      const record = await run(
        spec(
          { uri: `s3://events/hive-${format}/`, format, hivePartitioning: true },
          { passthrough: ['id', 'ts', 'hour'] },
        ),
      );
      const got = await output(record);
      const want = await read(
        `SELECT id, ts, hour FROM (${inputOf(format, join(work, 'input', `hive-${format}`, '**', `*.${format}`))})`,
      );
      expect(want.types).toEqual([
        ['id', 'BIGINT'],
        ['ts', 'TIMESTAMP'],
        ['hour', 'VARCHAR'],
      ]);
      expect(got.types).toEqual([...want.types, ['score', 'FLOAT']]);
      expect(got.rows.map((row) => row.slice(0, -1))).toEqual(want.rows);
      expect(new Set(got.rows.map((row) => `${row[1]} ${row[2]}`))).toEqual(
        new Set(['2026-11-28 07:00:00 07', 'NULL 23']),
      );
    });
  }

  it('fails planning when the folders name different partition keys', async () => {
    await writeInput(
      'mixed/a=1/part.parquet',
      `SELECT 1::BIGINT AS id, ${features('0')} FROM range(3)`,
      'parquet',
    );
    await writeInput(
      'mixed/b=2/part.parquet',
      `SELECT 2::BIGINT AS id, ${features('0')} FROM range(3)`,
      'parquet',
    );
    const record = await run(
      spec({ uri: 's3://events/mixed/', format: 'parquet', hivePartitioning: true }, { passthrough: ['id'] }),
    );
    expect(record.status).toBe('failed');
    expect(record.error?.code).toBe('HIVE_PARTITIONS_MISMATCH');
    expect(record.error?.message).toContain('"a=1/" has "a", "b=2/" has "b"');
  });
});
