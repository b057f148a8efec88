/**
 * What lading needs to know before it touches a cluster, read without
 * changing anything: the server version, each node's platform, runtime,
 * readiness and taints, and whether this identity may do what install does
 * (SelfSubjectAccessReview, so a refusal names the verb and resource).
 */
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { formatPlatform, normalizePlatform } from '../oci/platform.js';
import { api, apiStatus, type ClusterConnection } from './kube.js';
import { namespaceStep } from './namespace.js';

export interface NodeFacts {
  name: string;
  /** Canonical platform, e.g. linux/amd64 or linux/arm64/v8. */
  platform: string;
  kernel: string;
  osImage: string;
  /** e.g. containerd://2.1.4 */
  runtimeVersion: string;
  runtime: 'containerd' | 'cri-o' | 'unknown';
  kubeletVersion: string;
  distribution: 'k3s' | 'rke2' | 'kubernetes';
  ready: boolean;
  taints: string[];
  /** Image names the node reports (tags and name@digest forms). */
  images: Set<string>;
  /** Changes at every boot: tells a reboot (or a hard reset) since an install. */
  bootID: string;
  node: k8s.V1Node;
}

export function describeNode(node: k8s.V1Node): NodeFacts {
  const info = node.status?.nodeInfo;
  const runtimeVersion = info?.containerRuntimeVersion ?? '';
  const kubeletVersion = info?.kubeletVersion ?? '';
  return {
    name: node.metadata?.name ?? '?',
    platform: formatPlatform(normalizePlatform({ os: info?.operatingSystem ?? 'linux', architecture: info?.architecture ?? 'amd64' })),
    kernel: info?.kernelVersion ?? '',
    osImage: info?.osImage ?? '',
    runtimeVersion,
    runtime: runtimeVersion.startsWith('containerd://') ? 'containerd' : runtimeVersion.startsWith('cri-o://') ? 'cri-o' : 'unknown',
    kubeletVersion,
    distribution: /\+k3s/.test(kubeletVersion) ? 'k3s' : /\+rke2/.test(kubeletVersion) ? 'rke2' : 'kubernetes',
    ready: node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    taints: (node.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`),
    images: new Set((node.status?.images ?? []).flatMap((i) => i.names ?? [])),
    bootID: info?.bootID ?? '',
    node,
  };
}

export interface Permission {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  group?: string;
}

/** What `lading install` does with the API, checked before it does anything. */
export function installPermissions(namespace: string): Permission[] {
  return [
    { verb: 'list', resource: 'nodes' },
    { verb: 'get', resource: 'namespaces' },
    { verb: 'create', resource: 'namespaces' },
    { verb: 'patch', resource: 'namespaces' },
    { verb: 'create', resource: 'pods', namespace },
    { verb: 'get', resource: 'pods', namespace },
    { verb: 'delete', resource: 'pods', namespace },
    { verb: 'deletecollection', resource: 'pods', namespace },
    { verb: 'create', resource: 'pods', subresource: 'exec', namespace },
    { verb: 'list', resource: 'events', namespace },
    // Each node's record of what install put there (what a reset did, for check).
    { verb: 'get', resource: 'configmaps', namespace },
    { verb: 'create', resource: 'configmaps', namespace },
    { verb: 'update', resource: 'configmaps', namespace },
  ];
}

/** What `lading check` does with the API: as install, but it only reads the node records. */
export function checkPermissionList(namespace: string): Permission[] {
  return installPermissions(namespace).filter((p) => p.resource !== 'configmaps' || p.verb === 'get');
}

export async function checkPermissions(conn: ClusterConnection, permissions: Permission[]): Promise<void> {
  const refused: string[] = [];
  await Promise.all(
    permissions.map(async (p) => {
      if (!(await isAllowed(conn, p))) {
        refused.push(`${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.namespace ? ` in namespace ${p.namespace}` : ''}`);
      }
    }),
  );
  if (refused.length) {
    throw new AbortError(`the cluster does not allow this identity to: ${refused.sort().join('; ')}`, {
      exitCode: ExitCode.permission,
      hint: 'Use a kubeconfig with these rights (cluster-admin has them), or have an administrator grant them.',
    });
  }
}

export async function clusterVersion(conn: ClusterConnection): Promise<string> {
  const info = await api(`reach the API server at ${conn.server}`, () => conn.version.getCode());
  return info.gitVersion;
}

export async function listNodes(conn: ClusterConnection, selector?: string): Promise<NodeFacts[]> {
  const list = await api('list nodes', () => conn.core.listNode(selector ? { labelSelector: selector } : {}));
  if (list.items.length === 0) {
    throw new AbortError(selector ? `no node matches --nodes ${selector}` : 'the cluster has no nodes', {
      exitCode: ExitCode.node,
      hint: selector ? 'Check the label selector (kubectl get nodes --show-labels).' : undefined,
    });
  }
  return list.items.map(describeNode);
}

/**
 * lading's namespace, as namespace.ts decides: created and labelled when
 * missing, lading's own relabelled if its labels were lost, anyone else's used
 * as it is or refused (never relabelled). A create that races another run
 * reads the namespace again.
 */
export async function ensureNamespace(conn: ClusterConnection, namespace: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const step = namespaceStep(namespace, await readNamespace(conn, namespace));
    if (step.action === 'use') return;
    if (step.action === 'refuse') throw step.error;
    if (step.action === 'label') {
      await api(`label namespace ${namespace} for privileged pods`, () =>
        conn.core.patchNamespace(
          { name: namespace, body: { metadata: { labels: step.labels } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      );
      return;
    }
    try {
      await conn.core.createNamespace({ body: { metadata: { name: namespace, labels: step.labels } } });
      return;
    } catch (error) {
      if (apiStatus(error) === 409 && attempt === 0) continue;
      await api(`create namespace ${namespace}`, () => Promise.reject(error));
    }
  }
}

/**
 * The ConfigMap bootstrap's namespace: used as it is (a restricted one is fine, and it is never relabelled);
 * made, unlabelled, when missing. An identity that may not read namespaces is trusted to name one that exists.
 */
export async function ensurePlainNamespace(conn: ClusterConnection, namespace: string): Promise<void> {
  try {
    await conn.core.readNamespace({ name: namespace });
    return;
  } catch (error) {
    const status = apiStatus(error);
    if (status === 403) return;
    if (status !== 404) return api(`read namespace ${namespace}`, () => Promise.reject(error));
  }
  await api(`create namespace ${namespace}`, () =>
    conn.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'lading' } } } }).then(
      () => undefined,
      (error: unknown) => (apiStatus(error) === 409 ? undefined : Promise.reject(error)),
    ),
  );
}

async function readNamespace(conn: ClusterConnection, namespace: string): Promise<k8s.V1Namespace | undefined> {
  try {
    return await conn.core.readNamespace({ name: namespace });
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    return api(`read namespace ${namespace}`, () => Promise.reject(error));
  }
}

/** Waits until the node reports Ready again (after a runtime restart). */
export async function waitForNodeReady(conn: ClusterConnection, name: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Give the kubelet a moment to notice the restart before trusting a Ready condition.
  await new Promise((r) => setTimeout(r, 2_000));
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const node = await api(`read node ${name}`, () => conn.core.readNode({ name }));
    if (describeNode(node).ready) return;
    if (Date.now() > deadline) {
      throw new AbortError(`node ${name} did not become Ready within ${timeoutMs / 1000}s after its runtime restarted`, {
        exitCode: ExitCode.node,
        hint: 'Check the runtime on the node (journalctl -u crio / containerd); lading install --restore puts its configuration back.',
      });
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

const SUMMARY_LIMIT = 16 << 20;

export interface FsSpace {
  available: number;
  size: number;
}

/**
 * Space on a node's filesystems, from the kubelet's summary API through the
 * API server (`nodes/proxy`): the image filesystem (where runtimes keep
 * images) and the node's root filesystem (where a hostPath lives). Undefined
 * where this identity may not read it or the kubelet does not say (the node
 * agent checks again with df before any import). Read with a plain HTTPS
 * request: the summary is JSON, small.
 */
export async function nodeFsSpace(conn: ClusterConnection, node: string): Promise<{ imageFs?: FsSpace; nodeFs?: FsSpace }> {
  const url = new URL(`${conn.server.replace(/\/+$/, '')}/api/v1/nodes/${encodeURIComponent(node)}/proxy/stats/summary`);
  const options: https.RequestOptions = { method: 'GET', hostname: url.hostname, port: url.port, path: url.pathname, timeout: 10_000 };
  await conn.kc.applyToHTTPSOptions(options);
  type Fs = { availableBytes?: number; capacityBytes?: number } | undefined;
  const space = (fs: Fs): FsSpace | undefined => (fs?.availableBytes !== undefined && fs.capacityBytes ? { available: fs.availableBytes, size: fs.capacityBytes } : undefined);
  return new Promise((resolve) => {
    const req = https.request(options, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({});
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        // A summary lists every pod and container: a few hundred KiB on a busy node. More is not a summary.
        if (bytes > SUMMARY_LIMIT) {
          res.destroy();
          resolve({});
        } else chunks.push(c);
      });
      res.on('end', () => {
        try {
          const summary = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { node?: { fs?: Fs; runtime?: { imageFs?: Fs } } };
          const imageFs = space(summary.node?.runtime?.imageFs);
          const nodeFs = space(summary.node?.fs);
          resolve({ ...(imageFs ? { imageFs } : {}), ...(nodeFs ? { nodeFs } : {}) });
        } catch {
          resolve({});
        }
      });
      res.on('error', () => resolve({}));
    });
    req.on('error', () => resolve({}));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The image filesystem's space (see nodeFsSpace). */
export async function imageFsSpace(conn: ClusterConnection, node: string): Promise<FsSpace | undefined> {
  return (await nodeFsSpace(conn, node)).imageFs;
}

/** One SelfSubjectAccessReview: may this identity do it? */
export async function isAllowed(conn: ClusterConnection, p: Permission): Promise<boolean> {
  const review = await api('check permissions (SelfSubjectAccessReview)', () =>
    conn.authz.createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: p.verb, resource: p.resource, subresource: p.subresource, namespace: p.namespace, group: p.group ?? '' } },
      },
    }),
  );
  return review.status?.allowed === true;
}
