import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { readConfig } from '../../../schemas/config.js';
import { tenantsFileSchema } from '../../../schemas/tenants-file.js';
import {
  alertRules,
  dashboard,
  dashboardPanels,
  infraDir,
  monitoringQueries,
} from '../../helpers/monitoring-files.js';

interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
}

const readYaml = <T>(file: string): T =>
  parse(readFileSync(join(infraDir, file), 'utf8'), { merge: true }) as T;
const compose = readYaml<{ services: Record<string, ComposeService> }>('compose.yaml');
const services = compose.services;
const quiverRoles = ['api', 'worker', 'scheduler'];
/** The compose services that run `quiver <role>`. */
const quiverServices = Object.entries(services).filter(([, s]) => quiverRoles.includes(s.command?.[0] ?? ''));

/** `host:container[:ro]` bind mounts of a service, the host side resolved against infra/. */
function mounts(service: ComposeService): Array<{ source: string; target: string }> {
  return (service.volumes ?? [])
    .filter((v) => v.startsWith('.'))
    .map((v) => {
      const [source = '', target = ''] = v.split(':');
      return { source: join(infraDir, source), target };
    });
}

/** The file under infra/ that `service` sees at `path`, through its bind mounts; undefined when none. */
function hostPath(service: ComposeService, path: string): string | undefined {
  for (const { source, target } of mounts(service)) {
    if (path === target) return source;
    if (path.startsWith(`${target}/`)) return join(source, posix.relative(target, path));
  }
  return undefined;
}

/** The ports a Quiver service serves `/metrics` on, read from its environment as the process reads it. */
function metricsPorts(service: ComposeService): number[] {
  const env = service.environment ?? {};
  const role = service.command?.[0];
  if (role === 'api') return [readConfig(env, ['QUIVER_API_PORT']).QUIVER_API_PORT];
  const port = readConfig(env, ['QUIVER_METRICS_PORT']).QUIVER_METRICS_PORT;
  if (port === 'off') return [];
  if (role !== 'worker') return [port];
  // One device process per device, each on port + its index.
  const devices = service.command?.[service.command.indexOf('--devices') + 1] ?? 'cpu';
  const count = devices === 'cpu' ? 1 : devices.replace(/^gpu:/, '').split(',').length;
  return Array.from({ length: count }, (_, i) => port + i);
}

const promtool = spawnSync('promtool', ['--version']).status === 0;
/** Runs promtool (Debian's `prometheus` package, which .ci/run installs); its output is the failure message. */
function runPromtool(args: string[], cwd = join(infraDir, 'prometheus')) {
  expect(promtool, 'promtool not found: apt-get install --no-install-recommends prometheus').toBe(true);
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('monitoring and compose deployment (infra/prometheus, infra/grafana, compose.yaml)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'quiver-monitoring-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const prometheus = services.prometheus!;
  const grafana = services.grafana!;
  const configFile = prometheus.command?.find((a) => a.startsWith('--config.file='))?.split('=')[1] ?? '';
  const prometheusYml = hostPath(prometheus, configFile)!;
  const scrapeConfig = parse(readFileSync(prometheusYml, 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{
      job_name: string;
      metrics_path?: string;
      static_configs?: Array<{ targets: string[] }>;
      dns_sd_configs?: Array<{ names: string[]; port: number }>;
    }>;
  };

  it('mounts prometheus.yml where --config.file says, with its rule files beside it', () => {
    expect(prometheusYml).toBe(join(infraDir, 'prometheus/prometheus.yml'));
    for (const file of scrapeConfig.rule_files)
      expect(existsSync(join(dirname(prometheusYml), file))).toBe(true);
    expect(scrapeConfig.rule_files).toContain('alerts.yaml');
  });

  it('scrapes every Quiver service, each on a port it serves /metrics on', () => {
    const scraped = new Map<string, number[]>();
    for (const job of scrapeConfig.scrape_configs) {
      expect(job.metrics_path ?? '/metrics', job.job_name).toBe('/metrics');
      const targets = [
        ...(job.static_configs ?? []).flatMap((c) => c.targets),
        ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((name) => `${name}:${c.port}`)),
      ];
      for (const target of targets) {
        const [host = '', port = ''] = target.split(':');
        const service = services[host];
        expect(service, `${job.job_name}: ${target} is no compose service`).toBeDefined();
        expect(metricsPorts(service!), `${job.job_name}: ${target}`).toContain(Number(port));
        scraped.set(host, [...(scraped.get(host) ?? []), Number(port)]);
      }
    }
    for (const [name, service] of quiverServices)
      expect(scraped.get(name)?.sort(), name).toEqual(metricsPorts(service).sort());
    expect(quiverServices.map(([name]) => name).sort()).toEqual(['api', 'scheduler', 'worker']);
  });

  it('gives every alert an expr, a for, a severity, a summary and a description', () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'QuiverEventLoopLag',
      'QuiverJobFailureRate',
      'QuiverJobNoProgress',
      'QuiverOldestWaitingChunk',
      'QuiverWebhookDeliveriesFailing',
    ]);
    for (const rule of rules) {
      expect(rule.expr, rule.alert).toMatch(/\S/);
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toMatch(/\S/);
      expect(rule.annotations?.description, rule.alert).toMatch(/\S/);
    }
  });

  it('passes promtool check rules, check config and the rule unit tests', () => {
    for (const args of [
      ['check', 'rules', 'alerts.yaml'],
      ['check', 'config', 'prometheus.yml'],
      ['test', 'rules', 'alerts.test.yaml'],
    ]) {
      const run = runPromtool(args);
      expect(run.status, `promtool ${args.join(' ')}:\n${run.output}`).toBe(0);
    }
  });

  it('has a board whose every query is valid PromQL (promtool, as recording rules)', () => {
    const queries = monitoringQueries().filter((q) => q.where.startsWith('panel'));
    expect(queries.length).toBeGreaterThan(15);
    // Grafana replaces its interval variables before Prometheus sees the query.
    const rules = queries.map(({ expr }, i) => ({
      record: `board:query_${i}`,
      expr: expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m'),
    }));
    const file = join(scratch, 'board-queries.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'board', rules }] }));
    const run = runPromtool(['check', 'rules', file], scratch);
    expect(run.status, run.output).toBe(0);
  });

  it('never adds the total score queue to its device classes (queue="score" is their sum)', () => {
    // Series of quiver_queue_jobs the query selects: an aggregation over queues must pick the total
    // (queue="score") or leave it out (queue!="score"), or every chunk would count twice.
    for (const { where, expr } of monitoringQueries()) {
      for (const selector of expr.matchAll(/quiver_queue_jobs(\{[^}]*\})?/g)) {
        const matchers = selector[1] ?? '';
        expect(
          /queue="score"|queue!="score"|queue=~"score-[^"]*"/.test(matchers),
          `${where}: ${selector[0]} reads both queue="score" and its classes`,
        ).toBe(true);
      }
    }
  });

  it('builds the board on its Prometheus data source variable', () => {
    const board = dashboard();
    expect(board.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(board.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const panels = dashboardPanels(board);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        expect(target.datasource, panel.title).toEqual(panel.datasource);
    }
  });

  it('provisions Grafana with the mounted board and the compose Prometheus', () => {
    const provisioning = hostPath(grafana, '/etc/grafana/provisioning');
    expect(provisioning).toBe(join(infraDir, 'grafana/provisioning'));
    const providers = readYaml<{ providers: Array<{ type: string; options: { path: string } }> }>(
      'grafana/provisioning/dashboards/quiver.yaml',
    ).providers;
    expect(providers).toHaveLength(1);
    const boardPath = hostPath(grafana, posix.join(providers[0]!.options.path, 'quiver.json'));
    expect(boardPath).toBe(join(infraDir, 'grafana/quiver.json'));
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    if (home !== undefined) expect(hostPath(grafana, home)).toBe(boardPath);

    const datasources = readYaml<{ datasources: Array<{ type: string; url: string }> }>(
      'grafana/provisioning/datasources/prometheus.yaml',
    ).datasources;
    expect(datasources).toEqual([expect.objectContaining({ type: 'prometheus' })]);
    const url = new URL(datasources[0]!.url);
    expect(services[url.hostname]).toBe(prometheus);
    expect(url.port).toBe('9090');
  });

  it('puts Prometheus and Grafana in the monitoring profile, and nothing else anywhere but the default', () => {
    for (const [name, service] of Object.entries(services))
      expect(service.profiles, name).toEqual(
        ['prometheus', 'grafana'].includes(name) ? ['monitoring'] : undefined,
      );
  });

  it('makes, at start, the bucket the Quiver services are granted, on the store they are pointed at', () => {
    const init = services['minio-init']!;
    const script = [...(init.entrypoint ?? []), ...(init.command ?? [])].join(' ');
    const alias = /mc alias set (\S+) (\S+) /.exec(script);
    const bucket = new RegExp(`mc mb (?:--\\S+ )*${alias?.[1]}/([a-z0-9.-]+)`).exec(script)?.[1];
    expect(bucket).toBeDefined();
    expect(init.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    const minio = services.minio!;
    expect(minio.environment?.MINIO_ROOT_USER).toBeDefined();

    for (const [name, service] of quiverServices) {
      const env = service.environment ?? {};
      const endpoint = readConfig(env, ['QUIVER_S3_ENDPOINT']).QUIVER_S3_ENDPOINT;
      expect(endpoint, name).toBe(alias?.[2]);
      expect(services[new URL(endpoint ?? 'http://none').hostname], name).toBe(minio);
      expect(readConfig(env, ['QUIVER_S3_FORCE_PATH_STYLE']).QUIVER_S3_FORCE_PATH_STYLE, name).toBe(true);
      expect([env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY], name).toEqual([
        minio.environment?.MINIO_ROOT_USER,
        minio.environment?.MINIO_ROOT_PASSWORD,
      ]);
      expect((service.depends_on as Record<string, { condition: string }>)['minio-init'], name).toEqual({
        condition: 'service_completed_successfully',
      });
      // The tenants file it reads grants the bucket.
      const tenantsFile = hostPath(service, env.QUIVER_TENANTS_FILE ?? '');
      expect(tenantsFile, name).toBeDefined();
      const tenants = tenantsFileSchema.parse(parse(readFileSync(tenantsFile!, 'utf8'))).tenants;
      const granted = Object.values(tenants).flatMap((t) => t.storage?.write ?? []);
      expect(granted, name).toContain(`s3://${bucket}/`);
    }
    // The init script's credentials are MinIO's too.
    expect([init.environment?.S3_USER, init.environment?.S3_PASSWORD]).toEqual([
      minio.environment?.MINIO_ROOT_USER,
      minio.environment?.MINIO_ROOT_PASSWORD,
    ]);
    expect(script).toContain('"$$S3_USER" "$$S3_PASSWORD"');
  });
});
