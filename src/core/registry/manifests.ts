/**
 * What registry mode asks the API server for, as objects (no call here): the registry's Deployment (on
 * its node's address with hostNetwork and a hostPath, or, for the ConfigMap bootstrap, PodSecurity-
 * restricted behind a NodePort), its Service, the push gate beside it, and where its data lives and why.
 */
import type * as k8s from '@kubernetes/client-node';
import { BugError } from '../errors.js';
import type { CarriedProgram } from '../configmap/program.js';
import { AUTH_SECRET } from './auth.js';

export const REGISTRY_NAME = 'lading-registry';
export const REGISTRY_DATA_DIR = '/var/lib/lading/registry';
export const APP_LABEL = 'app.kubernetes.io/name';

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
  /**
   * How its image got to its node: `exec` (node injection: pinned, hostNetwork, hostPath), or `configmap`
   * (the injector: a PodSecurity-restricted pod that pulls `pullRef` from the injector's loopback NodePort,
   * behind a NodePort Service of its own, data in an emptyDir).
   */
  bootstrap?: 'exec' | 'configmap';
  pullRef?: string;
}

export interface RegistryStorage {
  kind: 'hostPath' | 'emptyDir';
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

/** The URL every node's runtime pulls through (an IPv6 address in brackets). */
export function registryEndpoint(placement: Pick<RegistryPlacement, 'nodeAddress' | 'port'>): string {
  const host = placement.nodeAddress.includes(':') ? `[${placement.nodeAddress}]` : placement.nodeAddress;
  return `http://${host}:${placement.port}`;
}

export function registryDeployment(p: RegistryPlacement): k8s.V1Deployment {
  if (p.bootstrap === 'configmap') return restrictedRegistryDeployment(p);
  return registryFrame(p, {
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
        ...registryServing(p),
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }, ...(p.auth ? [{ name: 'htpasswd', mountPath: '/lading/auth', readOnly: true }] : [])],
      },
      ...(p.auth ? [pushGateContainer(p, p.auth, p.image, 'Never')] : []),
    ],
    volumes: [{ name: 'data', hostPath: { path: REGISTRY_DATA_DIR, type: 'DirectoryOrCreate' } }, ...authVolumes(p)],
  });
}

/** The registry container's environment, port and probes; with credentials htpasswd, and a probe /v2/'s 401 cannot fail. */
function registryServing(p: RegistryPlacement): Pick<k8s.V1Container, 'env' | 'ports' | 'readinessProbe' | 'livenessProbe'> {
  return {
    env: [
      ...registryEnv(p.port),
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
  };
}

/** With credentials: the htpasswd file, the gate's secrets (group-readable by nobody through fsGroup) and its program. */
function authVolumes(p: RegistryPlacement): k8s.V1Volume[] {
  if (!p.auth) return [];
  return [
    { name: 'htpasswd', secret: { secretName: AUTH_SECRET, items: [{ key: 'htpasswd', path: 'htpasswd' }], defaultMode: 0o440 } },
    { name: 'push-secrets', secret: { secretName: AUTH_SECRET, items: [{ key: 'push-token', path: 'push-token' }, { key: 'registry-credentials', path: 'registry-credentials' }], defaultMode: 0o440 } },
    ...(p.auth.gate ? [p.auth.gate.volume] : []),
  ];
}

/**
 * The registry a restricted namespace allows: no host network, no host path, non-root, no capability, the
 * runtime's seccomp profile. Its image comes from the injector through the node's loopback NodePort, so the
 * pod stays on that node; its data is an emptyDir (PodSecurity forbids a hostPath): a new pod starts empty,
 * and install --registry pushes again.
 */
function restrictedRegistryDeployment(p: RegistryPlacement): k8s.V1Deployment {
  if (!p.pullRef) throw new BugError('the restricted registry needs the reference its node pulls it by');
  return registryFrame(p, {
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: GATE_USER, runAsGroup: GATE_USER, fsGroup: GATE_USER, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'registry',
        image: p.pullRef,
        imagePullPolicy: 'IfNotPresent',
        ...registryServing(p),
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }, ...(p.auth ? [{ name: 'htpasswd', mountPath: '/lading/auth', readOnly: true }] : [])],
      },
      // The gate runs on the same image, pulled once through the injector.
      ...(p.auth ? [pushGateContainer(p, p.auth, p.pullRef, 'IfNotPresent')] : []),
    ],
    volumes: [{ name: 'data', emptyDir: {} }, ...authVolumes(p)],
  });
}

/**
 * The Deployment both registries share: one replica pinned to its node by its hostname label, replaced
 * rather than rolled (one pod at a time on one data directory), tolerating every taint (it must come back
 * on its node whatever a reset or pressure puts there: nothing else can serve the images).
 */
function registryFrame(p: RegistryPlacement, pod: Omit<k8s.V1PodSpec, 'nodeSelector' | 'tolerations'>): k8s.V1Deployment {
  const labels = { [APP_LABEL]: REGISTRY_NAME, 'app.kubernetes.io/managed-by': 'lading' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: REGISTRY_NAME, namespace: p.namespace, labels },
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { [APP_LABEL]: REGISTRY_NAME } },
      template: { metadata: { labels }, spec: { nodeSelector: { 'kubernetes.io/hostname': p.hostnameLabel }, tolerations: [{ operator: 'Exists' }], ...pod } },
    },
  };
}

/** The distribution registry's settings by environment, the same for both registries. */
function registryEnv(port: number): k8s.V1EnvVar[] {
  return [
    { name: 'REGISTRY_HTTP_ADDR', value: `:${port}` },
    { name: 'REGISTRY_HTTP_RELATIVEURLS', value: 'true' },
    { name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: '/var/lib/registry' },
    { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: 'false' },
  ];
}

export function registryService(p: Pick<RegistryPlacement, 'namespace' | 'port' | 'auth' | 'bootstrap'>): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: REGISTRY_NAME, namespace: p.namespace, labels: { [APP_LABEL]: REGISTRY_NAME, 'app.kubernetes.io/managed-by': 'lading' } },
    spec: {
      // The restricted registry is reached by every node as 127.0.0.1:NODEPORT (no node configuration needed).
      ...(p.bootstrap === 'configmap' ? { type: 'NodePort' } : {}),
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
function pushGateContainer(p: RegistryPlacement, auth: NonNullable<RegistryPlacement['auth']>, image: string, imagePullPolicy: 'Never' | 'IfNotPresent'): k8s.V1Container {
  if (!auth.gate) throw new BugError('the registry Deployment with credentials needs the push gate\'s program');
  return {
    name: 'push-gate',
    image,
    imagePullPolicy,
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
