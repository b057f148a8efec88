/**
 * The in-cluster registry of registry mode, in the cluster: its Deployment and
 * Service applied (manifests.ts makes them), waited for with its events, found
 * again on a later run, and what a failed run created removed; the permissions
 * each way needs.
 *
 * With node injection the registry listens on its node's own address
 * (hostNetwork): every node pulls from `http://NODE_IP:PORT` directly, which
 * needs neither kube-proxy nor a NodePort on localhost (broken under nftables
 * and IPv6), nor a Service network on the nodes.
 */
import * as k8s from '@kubernetes/client-node';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';
import type { Permission } from '../cluster/preflight.js';
import { APP_LABEL, PUSH_PORT_NAME, REGISTRY_NAME, registryDeployment, registryService, type RegistryPlacement } from './manifests.js';
import { waitForReadyPod } from '../cluster/pod-wait.js';

export * from './manifests.js';
export { waitForReadyPod } from '../cluster/pod-wait.js';

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

/** The node port of the registry's Service (the restricted registry's address on every node's loopback). */
export async function registryNodePort(conn: ClusterConnection, namespace: string): Promise<number | undefined> {
  const service = await readOrUndefined(() => conn.core.readNamespacedService({ name: REGISTRY_NAME, namespace }));
  return service?.spec?.ports?.find((x) => x.name === 'registry')?.nodePort;
}

/** What the ConfigMap bootstrap needs beyond registryPermissions (and no pods/exec, no privileged pod). */
export function configMapBootstrapPermissions(namespace: string): Permission[] {
  return [
    { verb: 'list', resource: 'nodes' },
    { verb: 'create', resource: 'configmaps', namespace },
    { verb: 'get', resource: 'configmaps', namespace },
    { verb: 'deletecollection', resource: 'configmaps', namespace },
    { verb: 'create', resource: 'pods', namespace },
    { verb: 'get', resource: 'pods', namespace },
    { verb: 'delete', resource: 'pods', namespace },
    { verb: 'deletecollection', resource: 'pods', namespace },
    { verb: 'list', resource: 'events', namespace },
  ];
}

/** What registry mode with credentials needs beyond registryPermissions. */
export function registryAuthPermissions(namespace: string): Permission[] {
  return [
    { verb: 'get', resource: 'secrets', namespace },
    { verb: 'create', resource: 'secrets', namespace },
    { verb: 'update', resource: 'secrets', namespace },
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
export async function waitForRegistry(conn: ClusterConnection, namespace: string, options: { timeoutMs?: number; signal?: AbortSignal; pullIsFatal?: boolean } = {}): Promise<k8s.V1Pod> {
  return waitForReadyPod(conn, namespace, `${APP_LABEL}=${REGISTRY_NAME}`, 'the registry pod', {
    ...options,
    hint: 'Nothing was pushed. Check the registry node (kubectl -n NAMESPACE describe pod -l app.kubernetes.io/name=lading-registry); lading removed what this run created.'.replace('NAMESPACE', namespace),
  });
}

/** The registry's Service, if registry mode runs in this namespace. */
export function registryServiceIn(conn: ClusterConnection, namespace: string): Promise<k8s.V1Service | undefined> {
  return readOrUndefined(() => conn.core.readNamespacedService({ name: REGISTRY_NAME, namespace }));
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
