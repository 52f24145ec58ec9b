/**
 * `output.compression` and `output.rowGroupRows` through the whole pipeline (real Redis, S3-protocol
 * server, ONNX Runtime): one job per codec over the same input. Each part is read from the bytes the
 * manifest's size and SHA-256 vouch for, by DuckDB, which must see the codec and row groups asked for and
 * exactly the rows and scores of the job that named no option. CSV and JSON Lines jobs over the same input
 * must give the very same float32 scores back (the text float rule).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { readVerifiedOutput } from '../../helpers/verified-output.js';

const ROWS = 5_000;

describe('output file options end to end', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let directory: string;
  let duck: DuckDBInstance;
  let connection: DuckDBConnection;
  const readers = makeFormatReaders();
  /** The job that names no file option: its parts and rows are what every other job must match. */
  let baseline: { record: JobRecord; rows: Array<Record<string, unknown>> };

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    // Row groups of 2,048: 4,096-row chunks make two parts, of 4,096 and 904 rows.
    await writeDataset(s3.storage, 's3://events/day/', [['part-a.parquet', 0, ROWS]]);
    pipeline = await startPipeline({ storage: s3.storage });
    directory = await mkdtemp(join(tmpdir(), 'quiver-file-options-'));
    duck = await DuckDBInstance.create(':memory:');
    connection = await duck.connect();
    const record = await run({});
    baseline = { record, rows: await duckRows(record) };
  }, 180_000);

  afterAll(async () => {
    connection?.closeSync();
    duck?.closeSync();
    await pipeline?.close();
    await readers.close();
    await s3?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const spec = (output: Record<string, unknown>): JobSpecInput => ({
    input: { uri: 's3://events/day/', format: 'parquet' },
    model: {
      uri: 's3://models/mlp.onnx',
      inputs: { features: { columns: featureColumns } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: 's3://scores/options/', format: 'parquet', passthrough: ['id'], ...output },
    batch: { rows: 1_024, chunkRows: 4_096 },
  });

  /** Runs one job to success. */
  async function run(output: Record<string, unknown>): Promise<JobRecord> {
    const { record } = await submitJob({ store: pipeline.store, queue: pipeline.queues }, spec(output));
    const done = await pipeline.settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    return done;
  }

  /**
   * The job's parts as the manifest lists them, each checked against its stored size and SHA-256 (and
   * decoded by Quiver's reader), then copied to a local file for DuckDB.
   */
  async function verifiedParts(record: JobRecord): Promise<string[]> {
    const verified = await readVerifiedOutput(s3.storage, readers, record.output.manifestUri!);
    expect(verified.parts.length).toBeGreaterThan(0);
    expect(verified.parts.filter((part) => !part.ok)).toEqual([]);
    expect(verified.rows).toHaveLength(ROWS);
    const paths: string[] = [];
    for (const [index, part] of verified.manifest.parts.entries()) {
      const path = join(directory, `${record.id}-${index}${part.uri.slice(part.uri.lastIndexOf('.'))}`);
      await writeFile(path, await s3.storage.read(part.uri));
      paths.push(path);
    }
    return paths;
  }

  const query = async (sql: string): Promise<Array<Record<string, unknown>>> =>
    (await connection.runAndReadAll(sql)).getRowObjectsJS();

  const DUCKDB_SOURCE: Record<string, (paths: string) => string> = {
    parquet: (paths) => `read_parquet(${paths})`,
    csv: (paths) =>
      `read_csv(${paths}, header = true, auto_detect = false, columns = {'id': 'BIGINT', 'score': 'FLOAT'})`,
    jsonl: (paths) =>
      `read_json(${paths}, format = 'newline_delimited', columns = {'id': 'BIGINT', 'score': 'FLOAT'})`,
  };

  /** Every output row of the job, read by DuckDB from its verified parts, by id. */
  async function duckRows(record: JobRecord): Promise<Array<Record<string, unknown>>> {
    const paths = `[${(await verifiedParts(record)).map((p) => `'${p}'`).join(', ')}]`;
    return await query(
      `SELECT id, score FROM ${DUCKDB_SOURCE[record.spec.output.format]!(paths)} ORDER BY id`,
    );
  }

  /** Per part, per row group: its rows and the codecs of its column chunks. */
  async function rowGroups(record: JobRecord): Promise<Array<Array<{ rows: number; codecs: string[] }>>> {
    const groups = [];
    for (const path of await verifiedParts(record)) {
      const rows = await query(
        `SELECT row_group_id, any_value(row_group_num_rows) AS rows, list(DISTINCT compression) AS codecs
         FROM parquet_metadata('${path}') GROUP BY row_group_id ORDER BY row_group_id`,
      );
      groups.push(rows.map((row) => ({ rows: Number(row['rows']), codecs: row['codecs'] as string[] })));
    }
    return groups;
  }

  it('writes a job that names no option as before: snappy, one row group per part', async () => {
    expect('compression' in baseline.record.spec.output).toBe(false);
    expect(baseline.rows.map((row) => row['id'])).toEqual(Array.from({ length: ROWS }, (_, i) => BigInt(i)));
    expect(baseline.rows.every((row) => typeof row['score'] === 'number')).toBe(true);
    expect(await rowGroups(baseline.record)).toEqual([
      [{ rows: 4_096, codecs: ['SNAPPY'] }],
      [{ rows: 904, codecs: ['SNAPPY'] }],
    ]);
  });

  it.each([
    ['zstd', 'ZSTD'],
    ['gzip', 'GZIP'],
    ['none', 'UNCOMPRESSED'],
    ['snappy', 'SNAPPY'],
  ] as const)(
    '%s with rowGroupRows 1000: the codec and row groups asked for, the same rows',
    async (compression, codec) => {
      const record = await run({ compression, rowGroupRows: 1_000 });
      expect(await duckRows(record)).toEqual(baseline.rows);
      const codecs = [codec];
      expect(await rowGroups(record)).toEqual([
        [1_000, 1_000, 1_000, 1_000, 96].map((rows) => ({ rows, codecs })),
        [{ rows: 904, codecs }],
      ]);
    },
  );

  it.each(['csv', 'jsonl'] as const)('%s output gives back the very same float32 scores', async (format) => {
    const record = await run(format === 'csv' ? { format, compression: 'none' } : { format });
    expect(await duckRows(record)).toEqual(baseline.rows);
  });

  it('refuses a codec for CSV output at submission, naming output.compression', async () => {
    await expect(
      submitJob(
        { store: pipeline.store, queue: pipeline.queues },
        spec({ format: 'csv', compression: 'gzip' }),
      ),
    ).rejects.toMatchObject({
      code: 'JOB_SPEC_INVALID',
      problems: [expect.objectContaining({ path: 'output.compression' })],
    });
  });
});
