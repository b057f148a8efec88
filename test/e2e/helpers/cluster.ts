// Helpers of the e2e specs: finding the lading test cluster (test/cluster/up), namespaces, waiting.
//
// A spec that cannot reach the cluster fails (it never skips): the message says how to start one.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const HOW_TO_START =
  'Start the test cluster with `bash test/cluster/up` (as root; it prints the kubeconfig path) and run the specs ' +
  'with LADING_KUBECONFIG=<that path>, or run everything with `npm run test:e2e`.';

/**
 * The versions test/cluster pins, read from its source (so the specs check the node against the pins).
 *
 * `registryImage` is the reference of the registry image (the CNCF distribution registry, `/registry serve
 * /etc/distribution/config.yml`, listening on :5000) that test/cluster/up packs as an OCI archive at
 * `$LADING_CLUSTER_STATE/images/registry/registry.oci.tar` (cluster.env: LADING_REGISTRY_IMAGE_ARCHIVE); no node
 * holds it. The registry-mode specs push it to a loopback registry so that `lading create` can carry it.
 */
export function pinnedVersions(): {
  kubernetes: string;
  containerd: string;
  crio: string;
  etcd: string;
  sandboxImage: string;
  registryImage: string;
} {
  const lib = readFileSync(join(repoRoot, 'test/cluster/lib.sh'), 'utf8');
  const pin = (name: string): string => {
    const m = new RegExp(`^${name}=(\\S+)`, 'm').exec(lib);
    if (!m?.[1]) throw new Error(`test/cluster/lib.sh does not pin ${name}`);
    return m[1];
  };
  return {
    kubernetes: pin('LADING_K8S_VERSION'),
    containerd: pin('LADING_CONTAINERD_VERSION'),
    crio: pin('LADING_CRIO_VERSION'),
    etcd: pin('LADING_ETCD_VERSION'),
    sandboxImage: pin('LADING_SANDBOX_IMAGE'),
    registryImage: pin('LADING_REGISTRY_IMAGE'),
  };
}

/** One node of the test cluster (a machine of its own: namespaces, root, address, hostname). */
export interface ClusterNode {
  /** What test/cluster/ssh and reset take: `containerd` or `crio`. */
  key: string;
  /** The Kubernetes node name. */
  name: string;
  hostname: string;
  /** Its address on the harness's bridge (10.211.0.0/24), the node's InternalIP. */
  ip: string;
  runtime: 'containerd' | 'crio';
}

export interface TestCluster {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  /** Variables written by test/cluster/up next to the kubeconfig (cluster.env). */
  env: Record<string, string>;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  /** The containerd node's name (the only node of the default cluster). */
  nodeName: string;
  /** Every node, in the order LADING_CLUSTER_NODES gave them. */
  nodes: ClusterNode[];
}

function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (!existsSync(path)) return env;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

let cached: Promise<TestCluster> | undefined;

/** Connects to the lading test cluster, or throws an error that says how to start it. */
export function connect(): Promise<TestCluster> {
  cached ??= connectOnce();
  return cached;
}

async function connectOnce(): Promise<TestCluster> {
  const state = process.env['LADING_CLUSTER_STATE'] ?? '/tmp/lading-cluster';
  const kubeconfigPath =
    process.env['LADING_KUBECONFIG'] || process.env['KUBECONFIG'] || join(state, 'kubeconfig');
  if (!existsSync(kubeconfigPath)) {
    throw new Error(`No lading test cluster: kubeconfig ${kubeconfigPath} does not exist. ${HOW_TO_START}`);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  // These specs create and delete namespaces: refuse anything but the harness's own cluster.
  if (kc.getCurrentCluster()?.name !== 'lading') {
    throw new Error(
      `${kubeconfigPath} does not point at a lading test cluster (current cluster ` +
        `${JSON.stringify(kc.getCurrentCluster()?.name)}, expected "lading"). ${HOW_TO_START}`,
    );
  }
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  try {
    await core.listNode();
  } catch (err) {
    throw new Error(
      `The lading test cluster at ${kc.getCurrentCluster()?.server} does not answer (${String(err)}). ${HOW_TO_START}`,
    );
  }
  const env = readEnvFile(join(dirname(kubeconfigPath), 'cluster.env'));
  const nodeName = env['LADING_NODE_NAME'] ?? '127.0.0.1';
  return { kc, kubeconfigPath, env, core, apps, nodeName, nodes: nodesOf(env) };
}

function nodesOf(env: Record<string, string>): ClusterNode[] {
  return (env['LADING_CLUSTER_NODES'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((key): ClusterNode => {
      const v = (what: string): string => env[`LADING_NODE_${key.toUpperCase()}_${what}`] ?? '';
      return { key, name: v('NAME'), hostname: v('HOSTNAME'), ip: v('IP'), runtime: v('RUNTIME') as ClusterNode['runtime'] };
    });
}

/**
 * The node flags lading needs on the harness's nodes: none. Each node has the standard paths for real
 * (/run/containerd/containerd.sock, ctr on PATH, /etc/containerd/config.toml; CRI-O's and
 * containers-storage's defaults), and the agent's hostPath / is the node's own root.
 */
export function clusterFlags(_c: TestCluster): string[] {
  return [];
}

export interface NodeRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command inside a node as its console would (test/cluster/ssh); never throws on a non-zero exit. */
export async function ssh(c: TestCluster, node: string, command: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<NodeRun> {
  return harness(c, 'ssh', [node, '--', ...command], opts);
}

/** `ctr -n k8s.io ...` on the containerd node, through its console. */
export async function nodeCtr(c: TestCluster, args: string[]): Promise<NodeRun> {
  return ssh(c, 'containerd', ['ctr', '-n', 'k8s.io', ...args]);
}

/** Resets a node (test/cluster/reset: a power cut, or `clean` an orderly shutdown) and waits until it is Ready with its new boot id. */
export async function resetNode(c: TestCluster, node: string, opts: { clean?: boolean } = {}): Promise<NodeRun> {
  const r = await harness(c, 'reset', [node, ...(opts.clean ? ['--clean'] : [])], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`test/cluster/reset ${node} failed (exit ${r.code}): ${r.stderr}`);
  return r;
}

/**
 * Boots node KEY into the running cluster as a machine that joins later (test/cluster/up --join: nothing on
 * it but its sandbox image), waits until it is Ready, and adds it to `c.nodes` and `c.env`.
 */
export async function joinNode(c: TestCluster, key: 'containerd' | 'crio'): Promise<ClusterNode> {
  const r = await harness(c, 'up', ['--join', key], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`test/cluster/up --join ${key} failed (exit ${r.code}): ${r.stderr}`);
  const env = readEnvFile(join(dirname(c.kubeconfigPath), 'cluster.env'));
  Object.assign(c.env, env);
  c.nodes.splice(0, c.nodes.length, ...nodesOf(env));
  const node = c.nodes.find((n) => n.key === key);
  if (!node) throw new Error(`test/cluster/up --join ${key} succeeded but cluster.env does not list the node: ${env['LADING_CLUSTER_NODES']}`);
  return node;
}

function harness(c: TestCluster, script: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number }): Promise<NodeRun> {
  const state = c.env['LADING_CLUSTER_STATE'];
  if (!state) throw new Error(`No cluster.env next to ${c.kubeconfigPath}: test/cluster/${script} needs the state directory. ${HOW_TO_START}`);
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      'bash',
      [join(repoRoot, 'test/cluster', script), ...args],
      { cwd: repoRoot, env: { ...process.env, LADING_CLUSTER_STATE: state }, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(new Error(`test/cluster/${script} ${args.join(' ')}: ${err.message}\n${stderr}`));
        resolvePromise({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    child.stdin!.end(opts.input ?? '');
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a value other than undefined; fails after `timeoutMs` with the last
 * observation in the message.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  describe: () => Promise<string> | string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      let detail = '';
      try {
        detail = await describe();
      } catch {
        /* best effort */
      }
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (lastError ? `; last error: ${String(lastError)}` : '') +
          (detail ? `; ${detail}` : ''),
      );
    }
    await sleep(500);
  }
}

/** Creates a namespace for one spec and waits for its `default` ServiceAccount; returns its name. */
export async function createNamespace(c: TestCluster, prefix: string): Promise<string> {
  const name = `lading-e2e-${prefix}-${randomBytes(3).toString('hex')}`;
  await c.core.createNamespace({ body: { metadata: { name, labels: { 'lading.test/e2e': 'true' } } } });
  await waitFor(`ServiceAccount ${name}/default`, async () =>
    (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name })).metadata?.name,
  );
  return name;
}

export async function deleteNamespace(c: TestCluster, name: string | undefined): Promise<void> {
  if (!name) return;
  try {
    await c.core.deleteNamespace({ name, body: { gracePeriodSeconds: 0 } });
  } catch {
    /* already gone */
  }
}

/** A pod pinned to the test node, running `image` with imagePullPolicy `pull` (never pulls by default). */
export function podSpec(
  name: string,
  nodeName: string,
  image: string,
  opts: { pull?: 'Never' | 'IfNotPresent' | 'Always'; command?: string[]; port?: number } = {},
): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      nodeName,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image,
          imagePullPolicy: opts.pull ?? 'Never',
          ...(opts.command ? { command: opts.command } : {}),
          ...(opts.port ? { ports: [{ containerPort: opts.port }] } : {}),
        },
      ],
    },
  };
}

export async function waitForPodRunning(c: TestCluster, namespace: string, name: string, timeoutMs = 90_000): Promise<k8s.V1Pod> {
  return waitFor(
    `pod ${namespace}/${name} to be Running and Ready`,
    async () => {
      const pod = await c.core.readNamespacedPod({ name, namespace });
      const ready = pod.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      return pod.status?.phase === 'Running' && ready ? pod : undefined;
    },
    timeoutMs,
    () => describePod(c, namespace, name),
  );
}

/** The pod's status and its events, for failure messages. */
export async function describePod(c: TestCluster, namespace: string, name: string): Promise<string> {
  const pod = await c.core.readNamespacedPod({ name, namespace });
  const events = await c.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return (
    `status: ${JSON.stringify(pod.status)}; events: ` +
    events.items.map((e) => `${e.reason}: ${e.message}`).join(' | ')
  );
}

/** Imports the e2e toolbox image into the test node (test/e2e/toolbox/image); returns its reference. */
export async function ensureToolboxImage(c: TestCluster): Promise<string> {
  const state = c.env['LADING_CLUSTER_STATE'];
  if (!state) {
    throw new Error(`No cluster.env next to ${c.kubeconfigPath}: the toolbox image cannot be imported. ${HOW_TO_START}`);
  }
  const { stdout } = await promisify(execFile)('bash', [join(repoRoot, 'test/e2e/toolbox/image'), state], {
    cwd: repoRoot,
  });
  return stdout.trim();
}
