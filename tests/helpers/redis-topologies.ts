import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/demo-redis.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One redis-server (or sentinel) process of a topology, on a loopback port. */
export interface RedisNode {
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
  /** SIGKILL, and wait for it to be gone. */
  kill(): Promise<void>;
}

/** What every node of a test topology runs with: loopback, no persistence, Quiver's `noeviction`. */
const NODE_ARGS = [
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--maxmemory-policy',
  'noeviction',
];

/** `127.0.0.1:port,…` as the client takes it. */
export function hostPortsOf(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });
}

/** Whether `port` can be bound on loopback now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port for a Cluster node, whose bus listens on port + 10000: the ephemeral range reaches 60999, so
 * a port above 55535 has no bus port at all, and a bus port already taken stops the node at start.
 */
async function clusterNodePort(taken: Set<number>): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = await freePort();
    if (port > 55535 || taken.has(port) || taken.has(port + 10000)) continue;
    if (await bindable(port + 10000)) return port;
  }
  throw new Error('no loopback port with a free cluster bus port (port + 10000)');
}

function startNode(args: string[], port: number): RedisNode {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    child,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Asks `port` (fresh connection, no retries) and returns the reply, or undefined when it does not answer. */
async function ask(port: number, ...command: [string, ...Array<string | number>]): Promise<unknown> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(...command);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface LocalRedisCluster {
  nodes: RedisNode[];
  /** `127.0.0.1:port,…` of every node, as `QUIVER_REDIS_CLUSTER_NODES` takes it. */
  nodeList: string;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<RedisNode>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters with one replica each on loopback (`redis-cli --cluster create`), its
 * node timeout short (1 s) so a killed master's replica takes over within seconds.
 */
export async function startRedisCluster(dir: string, masters = 3): Promise<LocalRedisCluster> {
  const nodes: RedisNode[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < masters * 2; i++) {
    const port = await clusterNodePort(taken);
    taken.add(port).add(port + 10000);
    const nodeDir = join(dir, `node-${port}`);
    await mkdir(nodeDir, { recursive: true });
    nodes.push(
      startNode(
        [
          '--port',
          String(port),
          '--dir',
          nodeDir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '1000',
          ...NODE_ARGS,
        ],
        port,
      ),
    );
  }
  const stop = async () => void (await Promise.all(nodes.map((node) => node.kill())));
  try {
    for (const node of nodes)
      await until(`node ${node.port}`, async () => {
        if (node.child.exitCode !== null) throw new Error(`cluster node ${node.port} exited at start`);
        return (await ask(node.port, 'PING')) === 'PONG';
      });
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await until('cluster_state:ok on every node', async () => {
      const states = await Promise.all(nodes.map((n) => ask(n.port, 'CLUSTER', 'INFO')));
      return states.every((s) => typeof s === 'string' && s.includes('cluster_state:ok'));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    nodeList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    async masterOf(key) {
      for (const node of nodes) {
        if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
        const slot = (await ask(node.port, 'CLUSTER', 'KEYSLOT', key)) as number | undefined;
        const slots = (await ask(node.port, 'CLUSTER', 'SLOTS')) as
          Array<[number, number, [string, number]]> | undefined;
        const range = slots?.find(([from, to]) => slot !== undefined && slot >= from && slot <= to);
        const master = range && nodes.find((n) => n.port === range[2][1]);
        if (master) return master;
      }
      throw new Error(`no live node knows the master of ${key}`);
    },
    stop,
  };
}

export interface LocalRedisSentinel {
  master: RedisNode;
  replica: RedisNode;
  sentinels: RedisNode[];
  /** `127.0.0.1:port,…` of the sentinels, as `QUIVER_REDIS_SENTINELS` takes it. */
  sentinelList: string;
  name: string;
  /** The port the sentinels name as master now. */
  masterPort(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** A master, one replica and three sentinels (quorum 2) that fail over within a few seconds. */
export async function startRedisSentinel(dir: string, name = 'quiver'): Promise<LocalRedisSentinel> {
  const data = NODE_ARGS;
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  await mkdir(join(dir, 'master'), { recursive: true });
  await mkdir(join(dir, 'replica'), { recursive: true });
  const master = startNode(['--port', String(masterPort), '--dir', join(dir, 'master'), ...data], masterPort);
  const replica = startNode(
    [
      '--port',
      String(replicaPort),
      '--dir',
      join(dir, 'replica'),
      '--replicaof',
      '127.0.0.1',
      String(masterPort),
      ...data,
    ],
    replicaPort,
  );
  const sentinels: RedisNode[] = [];
  const stop = async () =>
    void (await Promise.all([master, replica, ...sentinels].map((node) => node.kill())));
  try {
    await until('master', async () => (await ask(masterPort, 'PING')) === 'PONG');
    await until('replica in sync', async () => {
      const info = await ask(replicaPort, 'INFO', 'replication');
      return typeof info === 'string' && info.includes('master_link_status:up');
    });
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const config = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(startNode([config, '--sentinel'], port));
    }
    for (const sentinel of sentinels)
      await until(`sentinel ${sentinel.port} sees the replica`, async () => {
        const replicas = (await ask(sentinel.port, 'SENTINEL', 'REPLICAS', name)) as unknown[] | undefined;
        return Array.isArray(replicas) && replicas.length === 1;
      });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    master,
    replica,
    sentinels,
    name,
    sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    async masterPort() {
      for (const sentinel of sentinels) {
        const address = (await ask(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as
          string[] | undefined;
        if (address?.[1]) return Number(address[1]);
      }
      return undefined;
    },
    stop,
  };
}
