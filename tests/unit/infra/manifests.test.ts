import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { commands } from '../../../services/cli/main.js';

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
});
