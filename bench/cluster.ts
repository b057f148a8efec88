/**
 * What the cluster benches share: the test cluster (test/cluster, brought up if needed), commands on its
 * nodes through test/cluster/ssh, and runs under GNU time for wall time and peak RSS.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

export const exec = promisify(execFile);
export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export interface Timed {
  seconds: number;
  rssKiB: number;
  /** CPU seconds (user + system) of the command and what it waited for. */
  cpuSeconds: number;
  stdout: string;
}

/** Runs a command under GNU time; `stdinFile` is its standard input (else none). Throws on a non-zero exit. */
export async function timed(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdinFile?: string } = {}): Promise<Timed> {
  const stdin = opts.stdinFile ? openSync(opts.stdinFile, 'r') : 'ignore';
  const started = performance.now();
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', 'LADING_BENCH_RSS=%M LADING_BENCH_CPU=%U+%S', command, ...args], { env: opts.env ?? process.env, stdio: [stdin, 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`));
        const cpu = /LADING_BENCH_CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
        resolve({ seconds: (performance.now() - started) / 1000, rssKiB: Number(/LADING_BENCH_RSS=(\d+)/.exec(stderr)?.[1] ?? 0), cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : 0, stdout });
      });
    });
  } finally {
    if (typeof stdin === 'number') closeSync(stdin);
  }
}

export interface BenchCluster {
  /** The cluster was running before the bench (then the bench leaves it running). */
  wasUp: boolean;
  state: string;
  kubeconfig: string;
  kc: k8s.KubeConfig;
  /** cluster.env, written by test/cluster/up next to the kubeconfig. */
  env: Record<string, string>;
  /** The containerd node: its Kubernetes name, bridge address and kubernetes.io/hostname label. */
  node: { name: string; ip: string; hostnameLabel: string };
  /** Takes the cluster down if the bench brought it up. */
  done(): Promise<void>;
}

function readEnv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Brings the test cluster up (test/cluster/up reuses a running one) and finds its containerd node. */
export async function clusterUp(): Promise<BenchCluster> {
  const state = process.env.LADING_CLUSTER_STATE ?? '/tmp/lading-cluster';
  const wasUp = existsSync(join(state, 'kubeconfig'));
  const kubeconfig = (await exec('bash', [join(root, 'test/cluster/up')], { maxBuffer: 1 << 20 })).stdout.trim().split('\n').pop()!;
  const done = async () => {
    if (!wasUp) await exec('bash', [join(root, 'test/cluster/down')]).catch(() => undefined);
  };
  try {
    const env = readEnv(join(dirname(kubeconfig), 'cluster.env'));
    // test/cluster/ssh finds the nodes through it
    process.env.LADING_CLUSTER_STATE = env.LADING_CLUSTER_STATE ?? state;
    const name = env.LADING_NODE_CONTAINERD_NAME;
    const ip = env.LADING_NODE_CONTAINERD_IP;
    if (!name || !ip) throw new Error(`the test cluster has no containerd node (LADING_CLUSTER_NODES=${env.LADING_CLUSTER_NODES})`);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const node = await kc.makeApiClient(k8s.CoreV1Api).readNode({ name });
    const hostnameLabel = node.metadata?.labels?.['kubernetes.io/hostname'];
    if (!hostnameLabel) throw new Error(`node ${name} has no kubernetes.io/hostname label`);
    return { wasUp, state: env.LADING_CLUSTER_STATE ?? state, kubeconfig, kc, env, node: { name, ip, hostnameLabel }, done };
  } catch (error) {
    await done();
    throw error;
  }
}

/** The argv that runs `command` inside a node (`containerd`, `crio`) as its console would (test/cluster/ssh). */
export function onNode(key: string, command: string[]): [string, string[]] {
  return ['bash', [join(root, 'test/cluster/ssh'), key, '--', ...command]];
}

/** Runs `command` inside a node; resolves with its stdout, throws on a non-zero exit. */
export async function nodeRun(key: string, command: string[]): Promise<string> {
  const [cmd, args] = onNode(key, command);
  return (await exec(cmd, args, { maxBuffer: 16 << 20 })).stdout;
}
