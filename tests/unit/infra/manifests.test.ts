import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { PLACEHOLDER_API_KEY, loadApiConfig } from '../../../services/api/api-options.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { commands } from '../../../services/cli/main.js';
import { thrown } from '../../helpers/thrown.js';

const root = join(import.meta.dirname, '../../..');
const infra = join(root, 'infra');

/** Every YAML document under infra/, with the file it came from. */
function documents(): Array<{ file: string; doc: Record<string, unknown> }> {
  const files = [
    'compose.yaml',
    ...readdirSync(join(infra, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `k8s/${f}`),
  ];
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(infra, file), 'utf8')).map((d) => {
      expect(d.errors, file).toEqual([]);
      return { file, doc: d.toJS() as Record<string, unknown> };
    }),
  );
}

/** The TypeScript sources of the running processes, as one string. */
function sources(): string {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(readFileSync(path, 'utf8'));
    }
  };
  for (const dir of ['services', 'jobs', 'schemas']) walk(join(root, dir));
  return out.join('\n');
}

/** Bytes of a redis.conf memory size: `3gb` (1024-based), `3g` (1000-based), `512mb`, a plain number. */
function redisBytes(size: string): number {
  const match = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(size);
  if (!match) return Number.NaN;
  const units: Record<string, number> = {
    b: 1,
    k: 1e3,
    kb: 1024,
    m: 1e6,
    mb: 1024 ** 2,
    g: 1e9,
    gb: 1024 ** 3,
  };
  return Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? Number.NaN);
}

/** Bytes of a Kubernetes memory quantity: `4Gi`, `512Mi`, `4G`. */
function kubernetesBytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!match) return Number.NaN;
  const units: Record<string, number> = {
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(match[1]) * (match[2] === undefined ? 1 : (units[match[2]] ?? Number.NaN));
}

/** Bytes of a compose `mem_limit`: `4g`, `512m` (1024-based, as Docker reads them). */
function dockerBytes(size: string): number {
  const match = /^(\d+)(b|k|m|g)?$/i.exec(size);
  if (!match) return Number.NaN;
  const units: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? Number.NaN);
}

interface Container {
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
}

function k8sContainers(doc: Record<string, unknown>): { containers: Container[]; graceSeconds?: number } {
  const pod = (doc.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  if (!pod) return { containers: [] };
  return {
    containers: (pod.containers as Container[] | undefined) ?? [],
    graceSeconds: pod.terminationGracePeriodSeconds as number | undefined,
  };
}

describe('infra manifests', () => {
  const docs = documents();
  const code = sources();
  const cliCommands = commands.map((c) => c.name);

  it('set only QUIVER_* variables the code reads', () => {
    const names = new Set<string>();
    const text = docs.map(({ doc }) => JSON.stringify(doc)).join('\n');
    for (const match of text.matchAll(/QUIVER_[A-Z0-9_]+/g)) names.add(match[0]);
    expect(names.size).toBeGreaterThan(5);
    const unknown = [...names].filter((name) => !code.includes(`'${name}'`) && !code.includes(`.${name}`));
    expect(unknown).toEqual([]);
  });

  it('run real quiver commands, and give draining workers longer than their grace period', () => {
    let workers = 0;
    for (const { file, doc } of docs) {
      const { containers, graceSeconds } = k8sContainers(doc);
      for (const container of containers) {
        if (!container.image.startsWith('quiver')) continue;
        const command = container.args?.[0] ?? '(none)';
        expect(cliCommands, `${file}: quiver ${command}`).toContain(command);
        if (command !== 'worker') continue;
        workers += 1;
        const grace = Number(
          container.env?.find((e) => e.name === 'QUIVER_SHUTDOWN_GRACE_SECONDS')?.value ?? 90,
        );
        expect(graceSeconds, file).toBeGreaterThan(grace);
      }
    }
    expect(workers).toBe(2);
    const compose = docs.find((d) => d.file === 'compose.yaml')!.doc as {
      services: Record<
        string,
        { command?: string[]; stop_grace_period?: string; environment?: Record<string, string> }
      >;
    };
    const worker = compose.services.worker!;
    expect(worker.command?.[0]).toBe('worker');
    expect(Number.parseInt(worker.stop_grace_period ?? '0', 10)).toBeGreaterThan(
      Number(worker.environment?.QUIVER_SHUTDOWN_GRACE_SECONDS ?? 90),
    );
  });

  it('configure Redis the way BullMQ needs it: noeviction and AOF', () => {
    const conf = readFileSync(join(infra, 'redis.conf'), 'utf8');
    const k8s = docs.find(
      (d) => d.file === 'k8s/redis.yaml' && (d.doc as { kind?: string }).kind === 'ConfigMap',
    );
    const k8sConf = (k8s?.doc as { data: Record<string, string> }).data['redis.conf']!;
    for (const text of [conf, k8sConf]) {
      expect(text).toMatch(/^maxmemory-policy noeviction$/m);
      expect(text).toMatch(/^appendonly yes$/m);
    }
  });

  it('give Redis a maxmemory below its container’s memory limit, so a full Redis refuses writes instead of being killed', () => {
    const redisDocs = docs.filter((d) => d.file === 'k8s/redis.yaml');
    const kind = (doc: Record<string, unknown>) => (doc as { kind?: string }).kind;
    const k8sConf = (
      redisDocs.find((d) => kind(d.doc) === 'ConfigMap')?.doc as { data: Record<string, string> }
    ).data['redis.conf']!;
    const { containers } = k8sContainers(redisDocs.find((d) => kind(d.doc) === 'StatefulSet')!.doc);
    const redis = containers.find((c) => c.image.startsWith('redis')) as Container & {
      resources?: { limits?: { memory?: string } };
    };
    const podLimit = kubernetesBytes(redis.resources?.limits?.memory ?? '');
    const compose = docs.find((d) => d.file === 'compose.yaml')!.doc as {
      services: Record<string, { mem_limit?: string; volumes?: string[] }>;
    };
    const composeRedis = compose.services.redis!;
    // compose mounts infra/redis.conf, so that file's maxmemory is the one to compare with its limit.
    expect(composeRedis.volumes?.some((v) => v.startsWith('./redis.conf:'))).toBe(true);
    const composeLimit = dockerBytes(composeRedis.mem_limit ?? '');
    for (const [text, limit, where] of [
      [readFileSync(join(infra, 'redis.conf'), 'utf8'), composeLimit, 'redis.conf under compose.yaml'],
      [k8sConf, podLimit, 'k8s/redis.yaml'],
    ] as const) {
      expect(text, where).toMatch(/^maxmemory-policy noeviction$/m);
      const maxmemory = redisBytes(/^maxmemory (\S+)$/m.exec(text)?.[1] ?? '');
      expect(limit, where).toBeGreaterThan(0);
      expect(maxmemory, where).toBeGreaterThan(0);
      // Headroom for the AOF rewrite's fork, client buffers and fragmentation.
      expect(maxmemory, where).toBeLessThanOrEqual(0.8 * limit);
    }
  });

  it('ship a placeholder API key that the API refuses to start with, naming the variable', () => {
    const secret = docs.find(
      (d) =>
        d.file === 'k8s/config.yaml' &&
        (d.doc as { kind?: string; metadata?: { name?: string } }).metadata?.name === 'quiver-api-keys',
    )?.doc as { stringData: { keys: string } };
    expect(secret.stringData.keys).toContain(PLACEHOLDER_API_KEY);
    const error = thrown(InvalidConfig, () => loadApiConfig([], { QUIVER_API_KEYS: secret.stringData.keys }));
    expect(error.variable).toBe('QUIVER_API_KEYS');
  });
});

describe('infra/Dockerfile', () => {
  const text = readFileSync(join(root, 'infra/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({
    base: m[1]!,
    name: m[2],
    body: '',
  }));
  text
    .split(/^FROM\s.*$/m)
    .slice(1)
    .forEach((body, i) => (stages[i]!.body = body));
  const stage = (name: string) => stages.find((s) => s.name === name)!;
  const args = Object.fromEntries([...text.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]));
  const installed = (body: string) =>
    [...body.matchAll(/apt-get install ([^&]+)/g)]
      .flatMap((m) => m[1]!.split(/\s+/))
      .filter((p) => /^[a-z]/.test(p));

  it('builds the CPU image by default and a GPU target the GPU worker manifest runs', () => {
    expect(stages.at(-1)!.name).toBe('cpu');
    expect(stage('gpu')).toBeDefined();
    expect(text).toMatch(/--target gpu -t quiver:gpu/);
    const gpuWorker = documents().find((d) => d.file === 'k8s/worker-gpu.yaml')!;
    expect(k8sContainers(gpuWorker.doc).containers.map((c) => c.image)).toEqual(['quiver:gpu']);
  });

  it('gives the GPU target CUDA 12 + cuDNN 9 with the CUDA provider, and what WebGPU and GPU binding need', () => {
    const gpu = stage('gpu');
    expect(gpu.base).toBe('${CUDA_IMAGE}');
    expect(args.CUDA_IMAGE).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
    // The provider library where the CUDA probe looks for it (execution-providers.ts).
    expect(stage('modules-cuda').body).toMatch(
      /--onnxruntime-node-install=cuda12 .*test -f bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/,
    );
    expect(gpu.body).toMatch(/COPY --from=modules-cuda \/opt\/quiver\/node_modules/);
    // The NVIDIA runtime mounts the driver's Vulkan ICD and glvnd libraries only for `graphics`.
    expect(gpu.body).toMatch(/NVIDIA_DRIVER_CAPABILITIES=\S*graphics/);
    // libvulkan.so.1, libGLdispatch.so.0 and VkLayer_MESA_device_select: what diagnoseVulkan and
    // hasDeviceSelectLayer look for (gpu-binding.ts).
    expect(installed(gpu.body)).toEqual(
      expect.arrayContaining(['libvulkan1', 'libglvnd0', 'mesa-vulkan-drivers']),
    );
    expect(installed(stage('cpu').body)).toContain('libvulkan1');
  });
});
