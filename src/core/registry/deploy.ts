/**
 * The in-cluster registry of registry mode: a Deployment pinned to one node,
 * its image already on that node (lading's node injection, pinned, never
 * pulled), its data in a hostPath on that node (it survives the pod's restart
 * and the node's reset), and a Service that the API server's proxy reaches it
 * through.
 *
 * The registry listens on its node's own address (hostNetwork): every node
 * pulls from `http://NODE_IP:PORT` directly, which needs neither kube-proxy
 * nor a NodePort on localhost (broken under nftables and IPv6), nor a Service
 * network on the nodes.
 */
import * as k8s from '@kubernetes/client-node';
import { AbortError, BugError, ExitCode } from '../errors.js';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';
import type { Permission } from '../cluster/preflight.js';
import type { CarriedProgram } from '../configmap/program.js';
import { AUTH_SECRET } from './auth.js';

export const REGISTRY_NAME = 'lading-registry';
export const REGISTRY_DATA_DIR = '/var/lib/lading/registry';
const APP_LABEL = 'app.kubernetes.io/name';

export interface RegistryPlacement {
  namespace: string;
  /** The node it runs on (its name). */
  node: string;
  /** That node's kubernetes.io/hostname label, which pins the pod to it. */
  hostnameLabel: string;
  /** The address every node pulls from. */
  nodeAddress: string;
  image: string;
  port: number;
  /** Where its data lives, and why there (shown in the plan and the report). */
  storage: RegistryStorage;
  /** With credentials (htpasswd): the push gate beside it, carried in ConfigMaps, on this port. */
  auth?: { pushPort: number; gate?: CarriedProgram };
}

export interface RegistryStorage {
  kind: 'hostPath';
  path: string;
  reason: string;
}

/**
 * The registry's storage: always a hostPath on its node. With a StorageClass
 * a PVC would be possible, but its provisioner's and CSI driver's pods must
 * run before the registry can start, and on an air-gapped cluster their
 * images may come from this very registry: after a reset of the node, nothing
 * could start. A hostPath on the node that also holds the registry's pinned
 * image depends on nothing but that node.
 */
export function registryStorage(defaultStorageClass: string | null | undefined): RegistryStorage {
  const base = 'it survives the pod\'s restart and the node\'s reset and depends on nothing but that node';
  return {
    kind: 'hostPath',
    path: REGISTRY_DATA_DIR,
    reason: defaultStorageClass
      ? `${base}; not a PVC of StorageClass ${defaultStorageClass}: its driver would have to run before the registry, and its images may come from this registry`
      : `${base}; ${defaultStorageClass === null ? 'the cluster has no default StorageClass' : 'lading may not list StorageClasses'}`,
  };
}

/** The cluster's default StorageClass: its name, null for none, undefined when lading may not list them. */
export async function defaultStorageClass(conn: ClusterConnection): Promise<string | null | undefined> {
  try {
    const storage = conn.kc.makeApiClient(k8s.StorageV1Api);
    const classes = await storage.listStorageClass();
    return classes.items.find((c) => ['storageclass.kubernetes.io/is-default-class', 'storageclass.beta.kubernetes.io/is-default-class'].some((a) => c.metadata?.annotations?.[a] === 'true'))?.metadata?.name ?? null;
  } catch {
    return undefined;
  }
}

/** What registry mode needs beyond node injection (checked before anything is changed). */
export function registryPermissions(namespace: string): Permission[] {
  return [
    { verb: 'get', resource: 'deployments', group: 'apps', namespace },
    { verb: 'create', resource: 'deployments', group: 'apps', namespace },
    { verb: 'update', resource: 'deployments', group: 'apps', namespace },
    { verb: 'delete', resource: 'deployments', group: 'apps', namespace },
    { verb: 'get', resource: 'services', namespace },
    { verb: 'create', resource: 'services', namespace },
    { verb: 'delete', resource: 'services', namespace },
    { verb: 'update', resource: 'services', namespace },
    { verb: 'list', resource: 'pods', namespace },
    { verb: 'get', resource: 'services', subresource: 'proxy', namespace },
    { verb: 'create', resource: 'services', subresource: 'proxy', namespace },
    { verb: 'update', resource: 'services', subresource: 'proxy', namespace },
    { verb: 'patch', resource: 'services', subresource: 'proxy', namespace },
  ];
}

/** The URL every node's runtime pulls through (an IPv6 address in brackets). */
export function registryEndpoint(placement: Pick<RegistryPlacement, 'nodeAddress' | 'port'>): string {
  const host = placement.nodeAddress.includes(':') ? `[${placement.nodeAddress}]` : placement.nodeAddress;
  return `http://${host}:${placement.port}`;
}

export function registryDeployment(p: RegistryPlacement): k8s.V1Deployment {
  const labels = { [APP_LABEL]: REGISTRY_NAME, 'app.kubernetes.io/managed-by': 'lading' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: REGISTRY_NAME, namespace: p.namespace, labels },
    spec: {
      replicas: 1,
      // One pod at a time on one data directory.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { [APP_LABEL]: REGISTRY_NAME } },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': p.hostnameLabel },
          // It must come back on its node whatever taint a reset or pressure puts there: nothing else can serve the images.
          tolerations: [{ operator: 'Exists' }],
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          // The secrets' files are group-readable by the gate's user (nobody).
          ...(p.auth ? { securityContext: { fsGroup: GATE_USER } } : {}),
          containers: [
            {
              name: 'registry',
              image: p.image,
              // On the node already, pinned; an air-gapped cluster has nowhere to pull it from.
              imagePullPolicy: 'Never',
              env: [
                { name: 'REGISTRY_HTTP_ADDR', value: `:${p.port}` },
                { name: 'REGISTRY_HTTP_RELATIVEURLS', value: 'true' },
                { name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: '/var/lib/registry' },
                { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: 'false' },
                ...(p.auth
                  ? [
                      { name: 'REGISTRY_AUTH', value: 'htpasswd' },
                      { name: 'REGISTRY_AUTH_HTPASSWD_REALM', value: REGISTRY_NAME },
                      { name: 'REGISTRY_AUTH_HTPASSWD_PATH', value: '/lading/auth/htpasswd' },
                    ]
                  : []),
              ],
              ports: [{ name: 'registry', containerPort: p.port, protocol: 'TCP' }],
              // With credentials /v2/ answers 401 to the kubelet: the gate's probe proves the registry then.
              readinessProbe: p.auth ? { tcpSocket: { port: p.port }, periodSeconds: 2, failureThreshold: 3 } : { httpGet: { path: '/v2/', port: p.port }, periodSeconds: 2, failureThreshold: 3 },
              livenessProbe: { tcpSocket: { port: p.port }, initialDelaySeconds: 10, periodSeconds: 10 },
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
              volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }, ...(p.auth ? [{ name: 'htpasswd', mountPath: '/lading/auth', readOnly: true }] : [])],
            },
            ...(p.auth ? [pushGateContainer(p, p.auth)] : []),
          ],
          volumes: [
            { name: 'data', hostPath: { path: REGISTRY_DATA_DIR, type: 'DirectoryOrCreate' } },
            ...(p.auth
              ? [
                  { name: 'htpasswd', secret: { secretName: AUTH_SECRET, items: [{ key: 'htpasswd', path: 'htpasswd' }], defaultMode: 0o440 } },
                  { name: 'push-secrets', secret: { secretName: AUTH_SECRET, items: [{ key: 'push-token', path: 'push-token' }, { key: 'registry-credentials', path: 'registry-credentials' }], defaultMode: 0o440 } },
                  ...(p.auth.gate ? [p.auth.gate.volume] : []),
                ]
              : []),
          ],
        },
      },
    },
  };
}

export function registryService(p: Pick<RegistryPlacement, 'namespace' | 'port' | 'auth'>): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: REGISTRY_NAME, namespace: p.namespace, labels: { [APP_LABEL]: REGISTRY_NAME, 'app.kubernetes.io/managed-by': 'lading' } },
    spec: {
      selector: { [APP_LABEL]: REGISTRY_NAME },
      ports: [
        { name: 'registry', port: p.port, targetPort: p.port, protocol: 'TCP' },
        ...(p.auth ? [{ name: PUSH_PORT_NAME, port: p.auth.pushPort, targetPort: p.auth.pushPort, protocol: 'TCP' }] : []),
      ],
    },
  };
}

const GATE_USER = 65534;
const GATE_MOUNT = '/lading/gate';
export const PUSH_PORT_NAME = 'push';

/**
 * The push gate (src/injector/gate.go): lading's own program, run from ConfigMaps by its loader on the
 * registry's image (on the node already; any image would do, the program needs nothing from it), as
 * nobody with no capability, no privilege escalation, a read-only root and the runtime's seccomp profile.
 */
function pushGateContainer(p: RegistryPlacement, auth: NonNullable<RegistryPlacement['auth']>): k8s.V1Container {
  if (!auth.gate) throw new BugError('the registry Deployment with credentials needs the push gate\'s program');
  return {
    name: 'push-gate',
    image: p.image,
    imagePullPolicy: 'Never',
    command: [...auth.gate.command, 'injector', 'gate', '-listen', `:${auth.pushPort}`, '-upstream', `127.0.0.1:${p.port}`, '-secrets', '/lading/push-secrets'],
    ports: [{ name: PUSH_PORT_NAME, containerPort: auth.pushPort, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/lading-gate/ready', port: auth.pushPort }, periodSeconds: 2, failureThreshold: 3 },
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '128Mi' } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: GATE_USER,
      runAsGroup: GATE_USER,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: auth.gate.volume.name, mountPath: GATE_MOUNT, readOnly: true },
      { name: 'push-secrets', mountPath: '/lading/push-secrets', readOnly: true },
    ],
  };
}

/** Where the gate's program is mounted (carryProgram's mountPath). */
export const PUSH_GATE_MOUNT = GATE_MOUNT;
export const PUSH_GATE_ROLE = 'lading-push-gate';

export interface DeployOutcome {
  /** What this run created (and removes again if the registry never becomes ready). */
  created: Array<'deployment' | 'service'>;
}

/** Creates or updates the Deployment and Service; the next step waits for readiness. */
export async function applyRegistry(conn: ClusterConnection, p: RegistryPlacement): Promise<DeployOutcome> {
  const apps = conn.kc.makeApiClient(k8s.AppsV1Api);
  const created: DeployOutcome['created'] = [];
  const deployment = registryDeployment(p);
  const existing = await readOrUndefined(() => apps.readNamespacedDeployment({ name: REGISTRY_NAME, namespace: p.namespace }));
  if (existing) {
    deployment.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    await api('update the registry Deployment', () => apps.replaceNamespacedDeployment({ name: REGISTRY_NAME, namespace: p.namespace, body: deployment }));
  } else {
    await api('create the registry Deployment', () => apps.createNamespacedDeployment({ namespace: p.namespace, body: deployment }));
    created.push('deployment');
  }
  const service = await readOrUndefined(() => conn.core.readNamespacedService({ name: REGISTRY_NAME, namespace: p.namespace }));
  const wanted = registryService(p);
  const portsOf = (s: k8s.V1Service) => JSON.stringify((s.spec?.ports ?? []).map((x) => [x.name, x.port, x.targetPort]));
  if (!service) {
    await api('create the registry Service', () => conn.core.createNamespacedService({ namespace: p.namespace, body: wanted }));
    created.push('service');
  } else if (portsOf(service) !== portsOf(wanted)) {
    // The push port comes and goes with credentials; the rest of the Service (its clusterIP) stays.
    service.spec!.ports = wanted.spec!.ports!;
    await api('update the registry Service', () => conn.core.replaceNamespacedService({ name: REGISTRY_NAME, namespace: p.namespace, body: service }));
  }
  return { created };
}

/** The kubernetes.io/hostname the running registry is pinned to, if lading's registry exists. */
/** The registry lading runs already: the node it is pinned to, and its push port when it has credentials. */
export async function runningRegistry(conn: ClusterConnection, namespace: string): Promise<{ hostname: string | undefined; pushPort: number | undefined } | undefined> {
  const apps = conn.kc.makeApiClient(k8s.AppsV1Api);
  const existing = await readOrUndefined(() => apps.readNamespacedDeployment({ name: REGISTRY_NAME, namespace }));
  if (!existing) return undefined;
  const spec = existing.spec?.template.spec;
  const gate = spec?.containers.find((c) => c.name === 'push-gate');
  return { hostname: spec?.nodeSelector?.['kubernetes.io/hostname'], pushPort: gate?.ports?.find((x) => x.name === PUSH_PORT_NAME)?.containerPort };
}

/** What registry mode with credentials needs beyond registryPermissions. */
export function registryAuthPermissions(namespace: string): Permission[] {
  return [
    { verb: 'get', resource: 'secrets', namespace },
    { verb: 'create', resource: 'secrets', namespace },
    { verb: 'get', resource: 'configmaps', namespace },
    { verb: 'list', resource: 'configmaps', namespace },
    { verb: 'create', resource: 'configmaps', namespace },
    { verb: 'delete', resource: 'configmaps', namespace },
  ];
}

/** Undoes what a failed run created, so nothing is left half-made. */
export async function removeRegistry(conn: ClusterConnection, namespace: string, what: DeployOutcome['created']): Promise<void> {
  const apps = conn.kc.makeApiClient(k8s.AppsV1Api);
  if (what.includes('deployment')) await ignoreMissing(() => apps.deleteNamespacedDeployment({ name: REGISTRY_NAME, namespace, propagationPolicy: 'Background' }));
  if (what.includes('service')) await ignoreMissing(() => conn.core.deleteNamespacedService({ name: REGISTRY_NAME, namespace }));
}

/**
 * Waits until the registry's pod is Ready (its /v2/ answers on the node) and
 * the Service lists it; a pod that cannot start is an error with its events.
 */
export async function waitForRegistry(conn: ClusterConnection, namespace: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<k8s.V1Pod> {
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let last: k8s.V1Pod | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const pods = await api('list the registry pods', () => conn.core.listNamespacedPod({ namespace, labelSelector: `${APP_LABEL}=${REGISTRY_NAME}` }));
    const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    last = live[0];
    const ready = live.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready) return ready;
    const stuck = live.map((p) => failureOf(p)).find(Boolean);
    if (stuck || Date.now() > deadline) {
      const events = last ? await podEvents(conn, namespace, last.metadata!.name!) : '';
      throw new AbortError(`the registry pod did not become ready${stuck ? `: ${stuck}` : ` within ${Math.round((options.timeoutMs ?? 180_000) / 1000)} s`}${events ? `; events: ${events}` : ''}`, {
        exitCode: ExitCode.node,
        hint: 'Nothing was pushed. Check the registry node (kubectl -n NAMESPACE describe pod -l app.kubernetes.io/name=lading-registry); lading removed what this run created.'.replace('NAMESPACE', namespace),
      });
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** A container state that will not get better by waiting. */
function failureOf(pod: k8s.V1Pod): string | undefined {
  for (const s of pod.status?.containerStatuses ?? []) {
    const reason = s.state?.waiting?.reason;
    if (reason && ['ErrImageNeverPull', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName'].includes(reason)) {
      return `${reason}${s.state?.waiting?.message ? ` (${s.state.waiting.message})` : ''}`;
    }
  }
  return undefined;
}

async function podEvents(conn: ClusterConnection, namespace: string, pod: string): Promise<string> {
  try {
    const events = await conn.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
    return events.items
      .filter((e) => e.type === 'Warning')
      .slice(-5)
      .map((e) => `${e.reason}: ${e.message}`)
      .join(' | ');
  } catch {
    return '';
  }
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

async function ignoreMissing(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (apiStatus(error) !== 404) throw error;
  }
}
