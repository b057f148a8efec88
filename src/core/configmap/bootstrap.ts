/**
 * The ConfigMap bootstrap (Zarf's ADR 3 and 7, lading's own injector): for clusters where lading may not
 * exec into pods or run privileged ones. The registry image's blobs for one node's platform and the
 * injector travel in ConfigMaps (payload.ts); a pod on that node, on an image the node already has (its
 * sandbox image), runs the loader, which joins the injector's chunks and executes it; the injector serves
 * the payload as a read-only registry behind a NodePort Service, which the node's runtime reaches as
 * 127.0.0.1:NODEPORT (plain HTTP to loopback needs no runtime configuration). The registry's pod then
 * starts from that reference, and everything of the bootstrap is removed again.
 *
 * Every pod here is PodSecurity `restricted`: non-root, no privilege escalation, no capability, the
 * runtime's seccomp profile, and no host namespace or path.
 */
import type * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';
import { pickAgentImage } from '../cluster/agent.js';
import type { NodeFacts } from '../cluster/preflight.js';
import type { BundleImage } from '../bundle/layout.js';
import type { BundleReader } from '../bundle/reader.js';
import { parseReference } from '../oci/reference.js';
import { waitForReadyPod } from '../cluster/pod-wait.js';
import { locateInjector, type InjectorBinary } from './injector-binary.js';
import { readFile } from 'node:fs/promises';
import { printable } from '../util/printable.js';
import {
  checkConfigMapQuota,
  payloadConfigMaps,
  payloadLabels,
  payloadSelector,
  planPayload,
  summarizePayload,
  LABEL_PAYLOAD,
  type PayloadPlan,
  type PayloadSummary,
} from './payload.js';

export const INJECTOR_NAME = 'lading-injector';
const INJECTOR_PORT = 5000;
const PAYLOAD_MOUNT = '/lading/payload';
const NOBODY = 65534;
/** ConfigMaps created at once: each is up to 768 KiB of values (about 1 MiB as JSON). */
const CONCURRENCY = 4;

/** The securityContext PodSecurity `restricted` asks of a pod and of each of its containers. */
export const RESTRICTED_POD: k8s.V1PodSecurityContext = { runAsNonRoot: true, runAsUser: NOBODY, runAsGroup: NOBODY, fsGroup: NOBODY, seccompProfile: { type: 'RuntimeDefault' } };
export const RESTRICTED_CONTAINER: k8s.V1SecurityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

export interface InjectorPlan {
  node: NodeFacts;
  /** The image the injector pod runs on: one the node has (its sandbox image). */
  image: string;
  injector: InjectorBinary;
  payload: PayloadPlan;
  summary: PayloadSummary;
  /** The registry image's reference as the node pulls it through the injector, once its NodePort is known. */
  servedAs: (nodePort: number) => string;
  /** What preflight found about localhost NodePorts (kube-proxy's mode), for the plan. */
  proxy?: string;
}

function loaderConfigMapName(id: string): string {
  return `lading-payload-${id}-loader`;
}

/** What the bootstrap will write, known before anything is: refused when a quota cannot take it. */
export async function planInjector(conn: ClusterConnection, namespace: string, registryImage: BundleImage, node: NodeFacts): Promise<InjectorPlan> {
  const image = pickAgentImage(node.node);
  if (!image) {
    throw new AbortError(`node ${node.name} lists no sandbox (pause) image in its status for the injector pod to run on`, {
      exitCode: ExitCode.node,
      hint: 'Pick another node with --registry-node NAME.',
    });
  }
  const injector = await locateInjector(node.platform);
  const payload = planPayload([registryImage], node.platform, injector);
  const summary = summarizePayload(payload);
  // The loader's own small ConfigMap counts too.
  const counted = { ...summary, configMaps: summary.configMaps + 1 };
  const quotas = await api(`list ResourceQuotas in ${namespace}`, () => conn.core.listNamespacedResourceQuota({ namespace })).catch((error: unknown) => {
    if (error instanceof AbortError && error.exitCode === ExitCode.permission) return { items: [] as k8s.V1ResourceQuota[] };
    throw error;
  });
  for (const quota of quotas.items) {
    for (const key of ['count/configmaps', 'configmaps']) {
      const hard = quota.status?.hard?.[key] ?? quota.spec?.hard?.[key];
      if (hard === undefined) continue;
      checkConfigMapQuota(counted, { name: quota.metadata!.name!, namespace, hard: Number(hard), used: Number(quota.status?.used?.[key] ?? 0) });
    }
  }
  const repository = parseReference(registryImage.name).repository;
  const tag = parseReference(registryImage.name).tag;
  return {
    node,
    image,
    injector,
    payload,
    summary: counted,
    servedAs: (nodePort) => `127.0.0.1:${nodePort}/${repository}${tag ? `:${tag}` : `@${registryImage.root.digest}`}`,
  };
}

/** Writes the payload's ConfigMaps (a few at a time, each verified as it is read) and the loader's. */
export async function writePayload(conn: ClusterConnection, namespace: string, plan: InjectorPlan, reader: BundleReader, options: { onConfigMap?: (done: number) => void; onBytes?: (n: number) => void; signal?: AbortSignal } = {}): Promise<void> {
  const { id } = plan.payload;
  const loader = await readFile(plan.injector.loader.path);
  const create = (body: k8s.V1ConfigMap) =>
    api(`create ConfigMap ${body.metadata!.name}`, () =>
      conn.core.createNamespacedConfigMap({ namespace, body }).then(
        () => undefined,
        // A payload of the same id holds the same bytes (the id is their hash): an earlier run's is fine.
        (error: unknown) => (apiStatus(error) === 409 ? undefined : Promise.reject(error)),
      ),
    );
  await create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: loaderConfigMapName(id), labels: payloadLabels(id, 'injector') }, immutable: true, binaryData: { loader: loader.toString('base64') } });
  let done = 1;
  options.onConfigMap?.(done);
  const inFlight = new Set<Promise<void>>();
  const generator = payloadConfigMaps(plan.payload, { reader, injectorPath: plan.injector.path }, { ...(options.signal ? { signal: options.signal } : {}), ...(options.onBytes ? { onBytes: options.onBytes } : {}) });
  try {
    for await (const cm of generator) {
      const write = create(cm as k8s.V1ConfigMap).then(() => {
        inFlight.delete(write);
        options.onConfigMap?.(++done);
      });
      inFlight.add(write);
      // A failed write stops the loop at the next turn.
      write.catch(() => undefined);
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    // Whatever stopped the loop (Ctrl-C, a refused write), the writes under way end before anyone removes
    // the payload: one finishing later would be left behind.
    await Promise.allSettled(inFlight);
  }
}

/** The injector's pod: restricted, pinned to its node, the loader as its command, every payload ConfigMap mounted. */
export function injectorPod(namespace: string, plan: InjectorPlan): k8s.V1Pod {
  const { id } = plan.payload;
  const names = [...plan.payload.configMaps.map((c) => c.name), loaderConfigMapName(id)];
  const dirs = plan.payload.configMaps.map((c) => `${PAYLOAD_MOUNT}/${c.name}`);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${INJECTOR_NAME}-${id}`, namespace, labels: { ...payloadLabels(id), 'app.kubernetes.io/name': INJECTOR_NAME } },
    spec: {
      nodeName: plan.node.name,
      restartPolicy: 'Never',
      tolerations: [{ operator: 'Exists' }],
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      securityContext: RESTRICTED_POD,
      containers: [
        {
          name: 'injector',
          image: plan.image,
          // On the node already (its sandbox image); on an air-gapped cluster there is nowhere to pull from.
          imagePullPolicy: 'Never',
          command: [
            `${PAYLOAD_MOUNT}/${loaderConfigMapName(id)}/loader`,
            ...plan.payload.injector.chunks.map((c) => `${PAYLOAD_MOUNT}/${c.configMap}/${c.key}`),
            '--',
            'injector',
            '-listen',
            `:${INJECTOR_PORT}`,
            ...dirs,
          ],
          ports: [{ name: 'registry', containerPort: INJECTOR_PORT, protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: '/v2/', port: INJECTOR_PORT }, periodSeconds: 1, failureThreshold: 3 },
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
          securityContext: { ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: true },
          volumeMounts: names.map((name) => ({ name: volumeName(name), mountPath: `${PAYLOAD_MOUNT}/${name}`, readOnly: true })),
        },
      ],
      volumes: names.map((name) => ({ name: volumeName(name), configMap: { name, defaultMode: 0o555 } })),
    },
  };
}

/** A volume name is a DNS label of at most 63 characters; a ConfigMap name may be longer. */
function volumeName(configMap: string): string {
  return `p-${configMap.replace(/^lading-payload-/, '')}`.slice(0, 63).replace(/-+$/, '');
}

export function injectorService(namespace: string, id: string): k8s.V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: INJECTOR_NAME, namespace, labels: payloadLabels(id) },
    spec: {
      type: 'NodePort',
      // Only the injector's own node pulls through it: no hop to another node.
      externalTrafficPolicy: 'Local',
      selector: { [LABEL_PAYLOAD]: id, 'app.kubernetes.io/name': INJECTOR_NAME },
      ports: [{ name: 'registry', port: INJECTOR_PORT, targetPort: INJECTOR_PORT, protocol: 'TCP' }],
    },
  };
}

/** Starts the injector and its Service; resolves to the node port once it serves. */
export async function startInjector(conn: ClusterConnection, namespace: string, plan: InjectorPlan, signal?: AbortSignal): Promise<number> {
  const { id } = plan.payload;
  // An injector of an earlier, interrupted run would hold the Service's name.
  await removeInjector(conn, namespace, { configMaps: false });
  const service = await api('create the injector Service', () => conn.core.createNamespacedService({ namespace, body: injectorService(namespace, id) }));
  await api('create the injector pod', () => conn.core.createNamespacedPod({ namespace, body: injectorPod(namespace, plan) }));
  await waitForReadyPod(conn, namespace, `${LABEL_PAYLOAD}=${id},app.kubernetes.io/name=${INJECTOR_NAME}`, 'the injector pod', {
    timeoutMs: 120_000,
    ...(signal ? { signal } : {}),
    hint: `Its node ${plan.node.name} must run its sandbox image ${plan.image} as a restricted pod; lading removes the injector and its ConfigMaps.`,
  });
  const nodePort = service.spec?.ports?.[0]?.nodePort;
  if (!nodePort) throw new AbortError('the injector Service got no node port', { exitCode: ExitCode.node, hint: 'The cluster may not allow NodePort Services; use --bootstrap exec where exec is allowed.' });
  return nodePort;
}

/**
 * What the injector said it refused (a chunk or blob whose sha256 did not match: a damaged or altered
 * ConfigMap), from its log; empty when it refused nothing or lading may not read pod logs.
 */
export async function injectorRefusals(conn: ClusterConnection, namespace: string, id: string): Promise<string[]> {
  try {
    const log = await conn.core.readNamespacedPodLog({ namespace, name: `${INJECTOR_NAME}-${id}`, container: 'injector', limitBytes: 64 << 10 });
    return String(log)
      .split('\n')
      .filter((line) => line.startsWith('injector: refused blob'))
      .map((line) => printable(line.replace(/^injector: /, '').slice(0, 500)));
  } catch {
    return [];
  }
}

/** Removes the injector's pods, its Service and (unless told not to) every payload ConfigMap lading left. */
export async function removeInjector(conn: ClusterConnection, namespace: string, options: { configMaps?: boolean } = {}): Promise<void> {
  const gone = (error: unknown) => {
    if (apiStatus(error) !== 404) throw error;
  };
  await conn.core.deleteCollectionNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=${INJECTOR_NAME}`, gracePeriodSeconds: 0 }).catch(gone);
  await conn.core.deleteNamespacedService({ name: INJECTOR_NAME, namespace }).catch(gone);
  if (options.configMaps !== false) await conn.core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector: payloadSelector() }).catch(gone);
}
