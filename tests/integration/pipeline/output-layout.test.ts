import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { type Manifest, manifestSchema } from '../../../schemas/manifest.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { isTerminal } from '../../../jobs/job-state.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

/**
 * Output layout and partitioning (issue 19.1 and `output.partitionBy`): an `exact` location partitioned by
 * `dt` reads back through DuckDB's `hive_partitioning` as exactly the input's rows and values (odd values
 * included); a rerun of the location replaces it with no moment at which a manifest reader or a
 * `_SUCCESS` lister sees a mix; the replaced run's objects are gone, everything else at the location stays.
 */
describe('output layout: exact locations and Hive partitions', () => {
  let s3: TestS3Server;
  let pipeline: TestPipeline;
  let work: string;
  let duck: DuckDBInstance;
  let db: DuckDBConnection;

  const features = featureColumns
    .map((c, j) => `((range * 7 + ${j}) % 101 / 101.0)::FLOAT AS ${c}`)
    .join(', ');
  /** Six values per six rows: a plain date, a slash, an equals sign, a percent, a space and null. */
  const oddDt = `CASE range % 6 WHEN 0 THEN '2026-11-28' WHEN 1 THEN 'a/b' WHEN 2 THEN 'x=y' WHEN 3 THEN '50%'
    WHEN 4 THEN 'with space' ELSE NULL END`;
  const inputGlob = () => join(work, 'input', '*.parquet');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'quiver-layout-'));
    duck = await DuckDBInstance.create(':memory:');
    db = await duck.connect();
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await mkdir(join(work, 'input'), { recursive: true });
    const files: Array<[string, string]> = [
      ['a.parquet', `SELECT range::BIGINT AS id, ${oddDt} AS dt, ${features} FROM range(3000)`],
      ['b.parquet', `SELECT (3000 + range)::BIGINT AS id, '2026-11-29' AS dt, ${features} FROM range(2500)`],
    ];
    for (const [name, select] of files) {
      const path = join(work, 'input', name);
      await db.run(`COPY (${select}) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 500)`);
      await s3.storage.write(`s3://events/daily/${name}`, await readFile(path));
    }
    // Every delete the pipeline makes is slowed, so a sweep lasts long enough (250 ms a delete, 16 at a time) for the
    // readers below to poll inside it: a sweep out of order (before the manifest, after `_SUCCESS`) shows.
    const storage = s3.storage;
    const slowDeletes: Storage = {
      list: (prefix, options) => storage.list(prefix, options),
      stat: (uri, options) => storage.stat(uri, options),
      read: (uri, range, options) => storage.read(uri, range, options),
      write: (uri, body, options) => storage.write(uri, body, options),
      delete: async (uri, options) => {
        await sleep(250);
        await storage.delete(uri, options);
      },
    };
    pipeline = await startPipeline({ storage: slowDeletes });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await s3?.close();
    db?.closeSync();
    duck?.closeSync();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const spec = (output: Partial<JobSpecInput['output']> & { uri: string }): JobSpecInput => ({
    input: { uri: 's3://events/daily/', format: 'parquet' },
    model: {
      uri: 's3://models/mlp.onnx',
      inputs: { features: { columns: featureColumns } },
      outputs: { score: { column: 'score' } },
    },
    output: { passthrough: ['id', 'dt'], ...output },
    batch: { rows: 256, chunkRows: 1_000 },
  });

  async function submit(job: JobSpecInput): Promise<string> {
    const { record } = await submitJob({ store: pipeline.store, queue: pipeline.queues }, job);
    return record.id;
  }

  async function succeeded(id: string): Promise<JobRecord> {
    const record = await pipeline.settle(id);
    expect(record.status, JSON.stringify(record.error)).toBe('succeeded');
    return record;
  }

  const tornAsUndefined = (error: unknown): undefined => {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  };

  async function manifestAt(uri: string): Promise<Manifest> {
    return manifestSchema.parse(JSON.parse(new TextDecoder().decode(await s3.storage.read(uri))));
  }

  async function listed(prefix: string): Promise<string[]> {
    const uris: string[] = [];
    for await (const object of s3.storage.list(prefix)) uris.push(object.uri);
    return uris.sort();
  }

  /** Downloads what the manifest lists into a fresh folder, at the same relative keys (escapes and all). */
  async function download(manifest: Manifest, name: string): Promise<string> {
    const dir = join(work, 'out', name);
    for (const part of manifest.parts) {
      const relative = part.uri.slice(manifest.root.length + 1);
      const path = join(dir, relative);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await s3.storage.read(part.uri));
    }
    return dir;
  }

  const rowsOf = async (sql: string): Promise<string[]> =>
    (await db.runAndReadAll(sql))
      .getRows()
      .map((row) => JSON.stringify(row.map((v) => (v === null ? null : String(v)))));

  const inputRows = () => rowsOf(`SELECT id, dt FROM read_parquet('${inputGlob()}') ORDER BY id`);

  it('exact + partitionBy dt: DuckDB hive_partitioning reads exactly the input rows and dt values', async () => {
    const uri = 's3://scores/daily/dt-all/';
    const record = await succeeded(await submit(spec({ uri, layout: 'exact', partitionBy: ['dt'] })));
    expect(record.output.uri).toBe(uri);
    expect(record.output.manifestUri).toBe(`${uri}_manifest.json`);
    const manifest = await manifestAt(`${uri}_manifest.json`);
    expect(manifest).toMatchObject({
      jobId: record.id,
      layout: 'exact',
      partitionBy: ['dt'],
      rowsScored: 5500,
    });
    // Folders escaped as Hive escapes them; null in the default partition.
    expect(manifest.partitions?.map((p) => [p.folder, p.values.dt, p.rows])).toEqual([
      ['dt=2026-11-28/', '2026-11-28', 500],
      ['dt=2026-11-29/', '2026-11-29', 2500],
      ['dt=50%25/', '50%', 500],
      ['dt=__HIVE_DEFAULT_PARTITION__/', null, 500],
      ['dt=a%2Fb/', 'a/b', 500],
      ['dt=with space/', 'with space', 500],
      ['dt=x%3Dy/', 'x=y', 500],
    ]);
    for (const part of manifest.parts) {
      const folder = manifest.partitions!.find((p) => p.values.dt === part.partition?.dt)!.folder;
      expect(part.uri.startsWith(`${uri}${folder}part-`), part.uri).toBe(true);
    }
    // Everything at the location: the parts the manifest lists, the manifest, _SUCCESS, the run report and the job's own
    // bookkeeping under _quiver/<jobId>/ — nothing else.
    const objects = await listed(uri);
    const bookkeeping = objects.filter((o) => o.startsWith(`${uri}_quiver/${record.id}/`));
    expect(objects).toEqual(
      [
        ...manifest.parts.map((p) => p.uri),
        `${uri}_SUCCESS`,
        `${uri}_manifest.json`,
        `${uri}_report.json`,
        ...bookkeeping,
      ].sort(),
    );

    const dir = await download(manifest, 'dt-all');
    const read = (autocast: boolean) =>
      `read_parquet('${dir}/**/*.parquet', hive_partitioning = true, hive_types_autocast = ${autocast})`;
    // The partition column is in the folder names only, as Spark and Hive write it.
    const fileColumns = (
      await db.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet('${dir}/**/*.parquet', hive_partitioning = false)`,
      )
    )
      .getRows()
      .map(([name]) => String(name));
    expect(fileColumns).toEqual(['id', 'score']);
    expect(await rowsOf(`SELECT id, dt FROM ${read(false)} ORDER BY id`)).toEqual(await inputRows());
    const scored = await db.runAndReadAll(`SELECT count(*), count(score) FROM ${read(true)}`);
    expect(scored.getRows()[0]!.map(Number)).toEqual([5500, 5500]);
  });

  it('job layout + partitionBy, JSON Lines: the same rows through read_json', async () => {
    const record = await succeeded(
      await submit(spec({ uri: 's3://scores/jsonl/', format: 'jsonl', partitionBy: ['dt'] })),
    );
    expect(record.output.uri).toBe(`s3://scores/jsonl/${record.id}/`);
    const manifest = await manifestAt(record.output.manifestUri!);
    expect(manifest.root).toBe(`s3://scores/jsonl/${record.id}`);
    const dir = await download(manifest, 'jsonl');
    const sql = `SELECT id, dt FROM read_json('${dir}/**/*.jsonl', format = 'newline_delimited', hive_partitioning = true, hive_types_autocast = false) ORDER BY id`;
    expect(await rowsOf(sql)).toEqual(await inputRows());
  });

  it('exact + partitionBy, CSV and Arrow: every row in its partition folder, the column left out', async () => {
    for (const format of ['csv', 'arrow'] as const) {
      const uri = `s3://scores/daily/${format}/`;
      const record = await succeeded(
        await submit(spec({ uri, format, layout: 'exact', partitionBy: ['dt'] })),
      );
      const manifest = await manifestAt(record.output.manifestUri!);
      const dir = await download(manifest, format);
      if (format === 'csv') {
        const sql = `SELECT id, dt FROM read_csv('${dir}/**/*.csv', hive_partitioning = true, hive_types_autocast = false) ORDER BY id`;
        expect(await rowsOf(sql)).toEqual(await inputRows());
        continue;
      }
      const got: string[] = [];
      for (const part of manifest.parts) {
        const table = tableFromIPC(await readFile(join(dir, part.uri.slice(manifest.root.length + 1))));
        expect(table.schema.fields.map((f) => f.name)).toEqual(['id', 'score']);
        expect(table.numRows).toBe(part.rows);
        for (const row of table.toArray() as Array<{ id: bigint }>)
          got.push(JSON.stringify([String(row.id), part.partition!.dt ?? null]));
      }
      expect(got.sort()).toEqual((await inputRows()).sort());
    }
  });

  it('passthrough "*" without the partition column fails the job with PARTITION_COLUMN_MISSING', async () => {
    const record = await pipeline.settle(
      await submit(spec({ uri: 's3://scores/missing/', passthrough: '*', partitionBy: ['country'] })),
    );
    expect(record.status).toBe('failed');
    expect(record.error?.code).toBe('PARTITION_COLUMN_MISSING');
    expect(record.error?.message).toContain('"country"');
  });

  it('a rerun replaces the location: no reader ever sees a mix, the old run is gone, the rest stays', async () => {
    const uri = 's3://scores/daily/dt-rerun/';
    const exact = spec({ uri, layout: 'exact', partitionBy: ['dt'] });
    const first = await succeeded(await submit(exact));
    const firstManifest = await manifestAt(`${uri}_manifest.json`);
    const firstParts = firstManifest.parts.map((p) => p.uri).sort();
    // Objects at the location that no run of it wrote: a user's file, a job-layout job's own folder.
    await s3.storage.write(`${uri}README.txt`, new TextEncoder().encode('kept'));
    const neighbour = await succeeded(await submit(spec({ uri, partitionBy: ['dt'] })));
    const neighbourObjects = await listed(`${uri}${neighbour.id}/`);
    expect(neighbourObjects.length).toBeGreaterThan(3);

    const second = await submit({ ...exact, labels: { run: 'second' } });
    const byManifest: Array<{ jobId: string; parts: string[]; duringRun: boolean }> = [];
    const byListing: Array<{ parts: string[]; duringRun: boolean }> = [];
    const exists = async (u: string): Promise<boolean> => {
      try {
        await s3.storage.stat(u);
        return true;
      } catch (error) {
        if (error instanceof StorageNotFound) return false;
        throw error;
      }
    };
    const partsListed = async (): Promise<string[]> =>
      (await listed(uri)).filter(
        (u) => /\/part-\d{5}-[^/]*\.parquet$/.test(u) && !u.startsWith(`${uri}${neighbour.id}/`),
      );
    for (let settled = 0; settled < 3;) {
      const duringRun = !isTerminal((await pipeline.store.get(second))!.status);
      if (!duringRun) settled += 1;
      // A manifest reader: the manifest, then every part it lists; the observation counts when the
      // manifest did not change meanwhile (a reader that finds it changed starts again).
      // s3rver writes an object in place (S3's PUT is atomic): a read during the new manifest's PUT may
      // see a torn body, which a reader takes as "changed" too.
      const seen = await manifestAt(`${uri}_manifest.json`).catch(tornAsUndefined);
      const present = seen ? await Promise.all(seen.parts.map((p) => exists(p.uri))) : [];
      const again = await manifestAt(`${uri}_manifest.json`).catch(tornAsUndefined);
      if (seen && again && again.jobId === seen.jobId) {
        expect(present.every(Boolean), `a part of ${seen.jobId}'s manifest is missing`).toBe(true);
        byManifest.push({ jobId: seen.jobId, parts: seen.parts.map((p) => p.uri).sort(), duringRun });
      }
      // A _SUCCESS waiter: lists only while _SUCCESS is there before and after the listing.
      if (await exists(`${uri}_SUCCESS`)) {
        const parts = await partsListed();
        if (await exists(`${uri}_SUCCESS`)) byListing.push({ parts, duringRun });
      }
    }
    const secondRecord = await succeeded(second);
    const secondManifest = await manifestAt(`${uri}_manifest.json`);
    expect(secondManifest.jobId).toBe(second);
    const secondParts = secondManifest.parts.map((p) => p.uri).sort();
    expect(secondParts.filter((p) => firstParts.includes(p))).toEqual([]);

    // Each observed manifest is one run's, whole; the first run's was seen while the second ran.
    for (const seen of byManifest) {
      expect([first.id, second]).toContain(seen.jobId);
      expect(seen.parts).toEqual(seen.jobId === first.id ? firstParts : secondParts);
    }
    expect(byManifest.some((s) => s.jobId === first.id && s.duringRun)).toBe(true);
    expect(byManifest.at(-1)?.jobId).toBe(second);
    // Each listing made under _SUCCESS is exactly one run's parts.
    for (const seen of byListing) expect([firstParts, secondParts]).toContainEqual(seen.parts);
    expect(byListing.at(-1)?.parts).toEqual(secondParts);

    // The first run is gone — parts and bookkeeping; the user's file and the neighbour's folder stay.
    const objects = await listed(uri);
    expect(
      objects.filter((o) => firstParts.includes(o) || o.startsWith(`${uri}_quiver/${first.id}/`)),
    ).toEqual([]);
    expect(objects).toContain(`${uri}README.txt`);
    expect(objects.filter((o) => o.startsWith(`${uri}${neighbour.id}/`))).toEqual(neighbourObjects);
    const own = objects.filter((o) => o.startsWith(`${uri}_quiver/${second}/`));
    expect(objects).toEqual(
      [
        ...secondParts,
        `${uri}_SUCCESS`,
        `${uri}_manifest.json`,
        `${uri}_report.json`,
        `${uri}README.txt`,
        ...own,
        ...neighbourObjects,
      ].sort(),
    );
    expect(secondRecord.output.manifestUri).toBe(`${uri}_manifest.json`);
    const dir = await download(secondManifest, 'dt-rerun');
    expect(
      await rowsOf(
        `SELECT id, dt FROM read_parquet('${dir}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false) ORDER BY id`,
      ),
    ).toEqual(await inputRows());
  });
});
