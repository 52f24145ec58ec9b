import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import {
  AWS_SPOT_NOTICE_URL,
  addWorkerDefaults,
  compileWorkerOptions,
  loadWorkerConfig,
  parseWorkerOptions,
  scoreClassesFor,
  wantsWorkerHelp,
} from '../../../services/worker/worker-options.js';

const noGpu = { gpuCount: 0 };
const twoGpus = { gpuCount: 2 };

describe('worker options', () => {
  it('defaults: the CPU, 90 s of grace, no spot polling, 30 s locks, caches under the temp dir', () => {
    const { worker, redis } = loadWorkerConfig([], {}, noGpu);
    expect(worker).toEqual({
      devices: [{ kind: 'cpu', index: 0 }],
      shutdownGraceMs: 90_000,
      spotPollMs: 5_000,
      lockDurationMs: 30_000,
      checkpointMs: 30_000,
      modelCacheDir: join(tmpdir(), 'quiver-models'),
      tuningCachePath: join(tmpdir(), 'quiver-tuning.json'),
      maxOpenModels: 4,
      maxChunksPerJob: 100_000,
      maxModelBytes: 2 * 1024 ** 3,
      maxRecordBytes: 64 * 1024 ** 2,
      maxFooterBytes: 64 * 1024 ** 2,
    });
    expect(redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{quiver}' });
  });

  it('reads the environment, compiles seconds to milliseconds, and flags win over variables', () => {
    const env = {
      QUIVER_DEVICES: 'gpu:1',
      QUIVER_SHUTDOWN_GRACE_SECONDS: '60',
      QUIVER_SPOT_NOTICE_URL: 'aws',
      QUIVER_SPOT_POLL_SECONDS: '0.5',
      QUIVER_LOCK_SECONDS: '3',
      QUIVER_CHECKPOINT_SECONDS: '12.5',
      QUIVER_MODEL_CACHE: '/var/cache/quiver/models',
      QUIVER_TUNING_CACHE: '/var/cache/quiver/tuning.json',
      QUIVER_MAX_OPEN_MODELS: '2',
      QUIVER_MAX_CHUNKS_PER_JOB: '5000',
      QUIVER_MAX_MODEL_BYTES: '1048576',
      QUIVER_MAX_RECORD_BYTES: '4096',
      QUIVER_MAX_PARQUET_FOOTER_BYTES: '8192',
      QUIVER_PREFIX: 'prod{q}',
    };
    const fromEnv = loadWorkerConfig([], env, twoGpus);
    expect(fromEnv.worker).toEqual({
      devices: [{ kind: 'gpu', index: 1 }],
      shutdownGraceMs: 60_000,
      spotNoticeUrl: AWS_SPOT_NOTICE_URL,
      spotPollMs: 500,
      lockDurationMs: 3_000,
      checkpointMs: 12_500,
      modelCacheDir: '/var/cache/quiver/models',
      tuningCachePath: '/var/cache/quiver/tuning.json',
      maxOpenModels: 2,
      maxChunksPerJob: 5_000,
      maxModelBytes: 1_048_576,
      maxRecordBytes: 4_096,
      maxFooterBytes: 8_192,
    });
    expect(fromEnv.redis.prefix).toBe('prod{q}');

    const flagged = loadWorkerConfig(
      ['--devices', 'gpu:0,1', '--grace-seconds', '1.5', '--spot-notice-url', 'off'],
      env,
      twoGpus,
    ).worker;
    expect(flagged.devices).toEqual([
      { kind: 'gpu', index: 0 },
      { kind: 'gpu', index: 1 },
    ]);
    expect(flagged.shutdownGraceMs).toBe(1_500);
    expect(flagged.spotNoticeUrl).toBeUndefined();
  });

  it('resolves spot notice URLs: aws, off, a metadata base with AWS path appended, any other URL as is', () => {
    const url = (value: string) =>
      compileWorkerOptions(
        addWorkerDefaults(parseWorkerOptions(['--spot-notice-url', value], {}, noGpu)),
        noGpu,
      ).spotNoticeUrl;
    expect(url('AWS')).toBe('http://169.254.169.254/latest/meta-data/spot/instance-action');
    expect(url('off')).toBeUndefined();
    expect(url('http://127.0.0.1:8111')).toBe('http://127.0.0.1:8111/latest/meta-data/spot/instance-action');
    expect(url('http://metadata.internal/computeMetadata/v1/instance/preempted')).toBe(
      'http://metadata.internal/computeMetadata/v1/instance/preempted',
    );
  });

  it('`all` without a GPU is one CPU worker with a warning; with GPUs, one worker per GPU', () => {
    const [only, ...rest] = loadWorkerConfig(['--devices', 'all'], {}, noGpu).worker.devices;
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ kind: 'cpu', warning: expect.stringContaining('no GPU') as unknown });
    expect(loadWorkerConfig([], { QUIVER_DEVICES: 'all' }, twoGpus).worker.devices).toHaveLength(2);
  });

  it.each([
    [{ QUIVER_SHUTDOWN_GRACE_SECONDS: 'soon' }, 'QUIVER_SHUTDOWN_GRACE_SECONDS'],
    [{ QUIVER_SHUTDOWN_GRACE_SECONDS: '0' }, 'QUIVER_SHUTDOWN_GRACE_SECONDS'],
    [{ QUIVER_SHUTDOWN_GRACE_SECONDS: '-5' }, 'QUIVER_SHUTDOWN_GRACE_SECONDS'],
    [{ QUIVER_SPOT_POLL_SECONDS: '5s' }, 'QUIVER_SPOT_POLL_SECONDS'],
    [{ QUIVER_LOCK_SECONDS: 'Infinity' }, 'QUIVER_LOCK_SECONDS'],
    [{ QUIVER_SPOT_NOTICE_URL: 'ftp://169.254.169.254/' }, 'QUIVER_SPOT_NOTICE_URL'],
    [{ QUIVER_SPOT_NOTICE_URL: 'yes' }, 'QUIVER_SPOT_NOTICE_URL'],
    [{ QUIVER_DEVICES: 'gpu:0' }, 'QUIVER_DEVICES'],
    [{ QUIVER_DEVICES: 'tpu' }, 'QUIVER_DEVICES'],
    [{ QUIVER_MAX_OPEN_MODELS: '0' }, 'QUIVER_MAX_OPEN_MODELS'],
    [{ QUIVER_MAX_OPEN_MODELS: '2.5' }, 'QUIVER_MAX_OPEN_MODELS'],
    [{ QUIVER_MAX_CHUNKS_PER_JOB: '0' }, 'QUIVER_MAX_CHUNKS_PER_JOB'],
    [{ QUIVER_MAX_MODEL_BYTES: '2GiB' }, 'QUIVER_MAX_MODEL_BYTES'],
  ])('refuses %j, naming %s', (env, variable) => {
    expect(() => loadWorkerConfig([], env, noGpu)).toThrow(InvalidConfig);
    expect(() => loadWorkerConfig([], env, noGpu)).toThrow(`Invalid ${variable}:`);
  });

  it('names the flag, not the variable, when the flag carried the bad value', () => {
    expect(() => loadWorkerConfig(['--grace-seconds', 'x'], {}, noGpu)).toThrow(
      /^Invalid --grace-seconds: expected a positive number of seconds, got "x"$/,
    );
    expect(() => loadWorkerConfig(['--devices', 'gpu:2'], {}, twoGpus)).toThrow(
      /^Invalid --devices: .*gpu:2/,
    );
    try {
      loadWorkerConfig(['--spot-notice-url', 'nope'], {}, noGpu);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidConfig);
      expect((error as InvalidConfig).variable).toBe('--spot-notice-url');
      expect((error as InvalidConfig).code).toBe('CONFIG_INVALID');
    }
  });

  it('checks Redis and storage settings too, and refuses unknown flags as usage errors', () => {
    expect(() => loadWorkerConfig([], { QUIVER_PREFIX: 'quiver' }, noGpu)).toThrow(InvalidConfig);
    expect(() => loadWorkerConfig([], { QUIVER_S3_FORCE_PATH_STYLE: 'maybe' }, noGpu)).toThrow(InvalidConfig);
    expect(() => loadWorkerConfig(['--threads', '4'], {}, noGpu)).toThrow(
      expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }),
    );
    expect(() => loadWorkerConfig(['extra'], {}, noGpu)).toThrow(
      expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' }),
    );
    expect(wantsWorkerHelp(['--devices', 'cpu', '-h'])).toBe(true);
    expect(wantsWorkerHelp(['--devices', 'cpu'])).toBe(false);
  });

  it("takes each device's own class and `any` by default; QUIVER_SCORE_CLASSES overrides it for every device", () => {
    const defaults = loadWorkerConfig([], {}, noGpu).worker;
    expect(defaults.scoreClasses).toBeUndefined();
    expect(scoreClassesFor({ kind: 'cpu', index: 0 }, defaults.scoreClasses)).toEqual(['cpu', 'any']);
    for (const kind of ['gpu', 'cuda', 'webgpu'] as const)
      expect(scoreClassesFor({ kind, index: 1 })).toEqual(['gpu', 'any']);
    // `all` on a host without a GPU runs on the CPU: it takes the CPU's classes.
    const all = loadWorkerConfig(['--devices', 'all'], {}, noGpu).worker.devices[0]!;
    expect(scoreClassesFor(all)).toEqual(['cpu', 'any']);

    const told = loadWorkerConfig([], { QUIVER_SCORE_CLASSES: ' GPU, any ' }, noGpu).worker;
    expect(told.scoreClasses).toEqual(['gpu', 'any']);
    expect(scoreClassesFor({ kind: 'cpu', index: 0 }, told.scoreClasses)).toEqual(['gpu', 'any']);
    expect(loadWorkerConfig([], { QUIVER_SCORE_CLASSES: 'cpu' }, noGpu).worker.scoreClasses).toEqual(['cpu']);

    for (const bad of ['tpu', 'cpu,cpu', 'cpu,,any']) {
      expect(() => loadWorkerConfig([], { QUIVER_SCORE_CLASSES: bad }, noGpu), bad).toThrow(InvalidConfig);
      try {
        loadWorkerConfig([], { QUIVER_SCORE_CLASSES: bad }, noGpu);
      } catch (error) {
        expect((error as InvalidConfig).variable, bad).toBe('QUIVER_SCORE_CLASSES');
      }
    }
  });
});
