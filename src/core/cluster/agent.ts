/**
 * Node agents: a short-lived pod per node that reaches the host's own tools
 * without pulling anything. It runs an image the node already has (the
 * sandbox image by default) with `imagePullPolicy: Never`, pinned with
 * `nodeName`, tolerating every taint, privileged, with the host's / at /host.
 * Commands run on the host through the host's own dynamic loader and chroot,
 * so no binary of ours is needed on the node.
 */
import { pollDelayMs } from '../util/poll.js';
import { trace } from '../util/trace.js';
import type * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { sleep } from '../oci/retry.js';
import type { Readable } from 'node:stream';
import { execInPod } from './exec.js';
import { ReceiverUnavailable, startReceiver } from './receiver.js';
import { BulkStreams, type StreamTransport, type TransportUsed } from './bulk-streams.js';
import type { ProgramFile } from '../configmap/injector-binary.js';
import type { HostShell } from '../host.js';
import { api, type ClusterConnection } from './kube.js';
import { pinnedPod } from './pods.js';

export const AGENT_LABEL = 'app.kubernetes.io/name';
export const AGENT_LABEL_VALUE = 'lading-agent';
export const NODE_LABEL = 'lading.dev/node';
const CONTAINER = 'agent';

export type { StreamTransport, TransportUsed } from './bulk-streams.js';

/** A node's host shell (chrooted into its /) through an agent pod. */
export interface NodeAgent extends HostShell {
  namespace: string;
  pod: string;
  image: string;
  /** How bulk streams went so far (undefined: none yet). */
  transportUsed(): TransportUsed | undefined;
  /**
   * Starts the way in for bulk streams now (the receiver, about 0.5 s), beside whatever the caller does next,
   * so the first stream finds it ready. Its outcome is that stream's (or close()'s) to see.
   */
  prepareBulk(): void;
  /** Stops what the agent runs beside its shell (the receiver); the pod itself is removed by removeAgent. */
  close(): Promise<void>;
}

/** Where the kubelet's and distributions' sandbox images come from (kubeadm, older kubeadm, k3s/RKE2, OpenShift/EKS/GKE mirrors). */
const SANDBOX_SOURCES = /^(registry\.k8s\.io|k8s\.gcr\.io|(docker\.io\/)?rancher\/mirrored-pause|[^/]+\.dkr\.ecr\.[^/]+\.amazonaws\.com\/eks\/pause|gke\.gcr\.io)[/:]/;

/**
 * The image an agent can use on a node: its sandbox (pause) image, as its status lists it. A pause image
 * from where sandbox images come from is preferred over any other image named pause (a bundle may carry
 * one that is not the runtime's, and need not even run), then the smallest.
 */
export function pickAgentImage(node: k8s.V1Node): string | undefined {
  const images = node.status?.images ?? [];
  const named = images.flatMap((i) => (i.names ?? []).filter((n) => !n.includes('@sha256:')).map((name) => ({ name, size: i.sizeBytes ?? 0, known: SANDBOX_SOURCES.test(name) ? 0 : 1 })));
  const pause = named.filter((i) => /(^|\/)(mirrored-)?pause:/.test(i.name)).sort((a, b) => a.known - b.known || a.size - b.size)[0];
  return pause?.name;
}

/** The agent pod: pinned to the node, tolerating every taint, privileged, the host's / at /host; no hostPID (host processes show through /host/proc). */
export function agentPod(namespace: string, node: string, image: string): k8s.V1Pod {
  return pinnedPod({
    namespace,
    node,
    generateName: 'lading-agent-',
    labels: { [AGENT_LABEL]: AGENT_LABEL_VALUE, [NODE_LABEL]: node.slice(0, 63) },
    containers: [{ name: CONTAINER, image, imagePullPolicy: 'Never', securityContext: { privileged: true }, volumeMounts: [{ name: 'host', mountPath: '/host' }] }],
    volumes: [{ name: 'host', hostPath: { path: '/', type: 'Directory' } }],
  });
}

/** Where a host's dynamic loader may be, real files first (absolute symlinks do not resolve under /host). */
const LOADERS: Record<string, string[]> = {
  amd64: [
    '/host/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    '/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    '/host/usr/lib64/ld-linux-x86-64.so.2',
    '/host/lib64/ld-linux-x86-64.so.2',
    '/host/lib/ld-musl-x86_64.so.1',
  ],
  arm64: [
    '/host/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1',
    '/host/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1',
    '/host/usr/lib64/ld-linux-aarch64.so.1',
    '/host/lib/ld-linux-aarch64.so.1',
    '/host/lib/ld-musl-aarch64.so.1',
  ],
};
const LIBRARY_PATHS: Record<string, string> = {
  amd64: '/host/lib/x86_64-linux-gnu:/host/usr/lib/x86_64-linux-gnu:/host/usr/lib64:/host/lib64:/host/lib:/host/usr/lib',
  arm64: '/host/lib/aarch64-linux-gnu:/host/usr/lib/aarch64-linux-gnu:/host/usr/lib64:/host/lib64:/host/lib:/host/usr/lib',
};
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CHROOTS = ['/host/usr/sbin/chroot', '/host/usr/bin/chroot', '/host/sbin/chroot', '/host/bin/chroot'];

export interface StartAgentOptions {
  namespace: string;
  node: k8s.V1Node;
  /** Overrides the image picked from the node's images. */
  image?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Default proxy. */
  transport?: StreamTransport;
  /** The receiver program for the node's platform (the injector); when it cannot be had, bulk streams use exec. */
  receiverProgram?: (platform: string) => Promise<ProgramFile>;
}

export async function startAgent(conn: ClusterConnection, options: StartAgentOptions): Promise<NodeAgent> {
  const node = options.node.metadata!.name!;
  const arch = options.node.status?.nodeInfo?.architecture ?? 'amd64';
  const image = options.image ?? pickAgentImage(options.node);
  if (!image) {
    throw new AbortError(`node ${node}: no image on it that an agent pod could run (no sandbox/pause image in its status)`, {
      exitCode: ExitCode.node,
      hint: 'Pass --agent-image with an image the node already has.',
    });
  }
  if (!LOADERS[arch]) {
    throw new AbortError(`node ${node}: architecture ${arch} is not supported for node agents`, { exitCode: ExitCode.node });
  }
  const created = await api(`create agent pod on node ${node}`, () =>
    conn.core.createNamespacedPod({ namespace: options.namespace, body: agentPod(options.namespace, node, image) }),
  );
  const pod = created.metadata!.name!;
  try {
    await waitForRunning(conn, options.namespace, { name: pod, uid: created.metadata?.uid }, node, options.timeoutMs ?? 90_000, options.signal);
    const prefix = await findHostPrefix(conn, options.namespace, pod, node, arch, options.signal);
    const prologue = `PATH=${HOST_PATH}; export PATH\n`;
    const viaExec = (script: string, execOptions: { stdin?: Readable; signal?: AbortSignal } = {}) =>
      execInPod(conn.kc, {
        namespace: options.namespace,
        pod,
        container: CONTAINER,
        // The agent's image may set no PATH at all (pause does not): give the host's shell the usual one.
        command: [...prefix, '/bin/sh', '-c', `${prologue}${script}`],
        ...(execOptions.stdin ? { stdin: execOptions.stdin } : {}),
        ...((execOptions.signal ?? options.signal) ? { signal: (execOptions.signal ?? options.signal)! } : {}),
      });
    const streams = new BulkStreams(options.transport ?? 'proxy', async () => {
      if (!options.receiverProgram) throw new ReceiverUnavailable('this run has no receiver program');
      const program = await options.receiverProgram(`linux/${arch}`).catch((error: unknown) => {
        throw new ReceiverUnavailable(`no receiver program for linux/${arch}: ${(error as Error).message}`);
      });
      return startReceiver(
        {
          conn,
          namespace: options.namespace,
          pod,
          container: CONTAINER,
          node,
          hostPrefix: prefix,
          scriptPrologue: prologue,
          hostExec: (script, execOptions) => viaExec(script, execOptions),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        program,
      );
    }, options.signal);
    return {
      node,
      namespace: options.namespace,
      pod,
      image,
      hostExec: async (script, execOptions = {}) => {
        const receiver = execOptions.bulk && execOptions.stdin ? await streams.receiver() : undefined;
        const started = performance.now();
        const result = await (receiver ? receiver.run(script, execOptions.stdin!, execOptions.signal ?? options.signal) : viaExec(script, execOptions));
        // No script text: a script may carry what a file on the node is to hold.
        trace(`node ${node}: a host script through ${receiver ? 'the receiver' : 'exec'}, exit ${result.exitCode} after ${(performance.now() - started).toFixed(0)} ms`);
        return result;
      },
      transportUsed: () => streams.used,
      prepareBulk: () => streams.prepare(),
      close: () => streams.close(),
    };
  } catch (error) {
    await removeAgent(conn, options.namespace, pod);
    throw error;
  }
}

export async function removeAgent(conn: ClusterConnection, namespace: string, pod: string): Promise<void> {
  try {
    await conn.core.deleteNamespacedPod({ namespace, name: pod, gracePeriodSeconds: 0 });
  } catch {
    // Already gone, or the cluster is unreachable: removeAgents() at the end sweeps by label.
  }
}

/** Deletes every agent pod lading left in its namespace (by label), e.g. after Ctrl-C. */
export async function removeAgents(conn: ClusterConnection, namespace: string): Promise<void> {
  await conn.core
    .deleteCollectionNamespacedPod({ namespace, labelSelector: `${AGENT_LABEL}=${AGENT_LABEL_VALUE}`, gracePeriodSeconds: 0 })
    .catch(() => undefined);
}

/** An agent pod that did not start; `sandbox` when the kubelet could not even create its sandbox for want of the sandbox image. */
export class AgentStartError extends AbortError {
  constructor(message: string, readonly sandbox: k8s.CoreV1Event | undefined, hint: string) {
    super(message, { exitCode: ExitCode.node, hint });
    this.name = 'AgentStartError';
  }
}

/** The kubelet's word that a pod's sandbox cannot be made because the sandbox (pause) image is not there (CRI-O: "image not known"; containerd: it tries to pull it). */
export function sandboxImageFailure(events: readonly k8s.CoreV1Event[]): k8s.CoreV1Event | undefined {
  return events.find((e) => e.reason === 'FailedCreatePodSandBox' && /sandbox image|pause|image not known|pull/i.test(e.message ?? ''));
}

async function podEvents(conn: ClusterConnection, namespace: string, pod: string): Promise<k8s.CoreV1Event[]> {
  try {
    return (await conn.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` })).items;
  } catch {
    return [];
  }
}

const eventText = (events: readonly k8s.CoreV1Event[]) =>
  events
    .slice(-5)
    .map((e) => `${e.reason}: ${e.message}`)
    .join('; ');

/**
 * Until the agent's container runs. The kubelet says so in two ways: its "Started" event, sent as the runtime
 * starts the container, and the pod's phase, which it reports only at its next look at the runtime (up to a
 * second later). Either will do: exec works from the first. Each round reads both (two small reads per
 * waiting node, at the pace of pollDelayMs); the events also say why a pod never gets its sandbox.
 */
async function waitForRunning(
  conn: ClusterConnection,
  namespace: string,
  { name: pod, uid }: { name: string; uid: string | undefined },
  node: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const started = (e: k8s.CoreV1Event) => e.reason === 'Started' && e.involvedObject?.uid === uid && e.involvedObject?.fieldPath === `spec.containers{${CONTAINER}}`;
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; ; round++) {
    if (signal?.aborted) throw signal.reason;
    const [current, events] = await Promise.all([api(`read agent pod ${pod}`, () => conn.core.readNamespacedPod({ namespace, name: pod })), podEvents(conn, namespace, pod)]);
    if (current.status?.phase === 'Running' || events.some(started)) return;
    const waiting = current.status?.containerStatuses?.[0]?.state?.waiting;
    const stuck = waiting && /ErrImageNeverPull|ImagePullBackOff|ErrImagePull|CreateContainerConfigError|CreateContainerError|InvalidImageName/.test(waiting.reason ?? '');
    const sandbox = sandboxImageFailure(events);
    if (sandbox || current.status?.phase === 'Failed' || current.status?.phase === 'Succeeded' || stuck || Date.now() > deadline) {
      const state = waiting ? `${waiting.reason}: ${waiting.message ?? ''}` : `phase ${current.status?.phase ?? 'unknown'}`;
      const said = eventText(events);
      throw new AgentStartError(`node ${node}: agent pod ${pod} did not start (${state.trim()})${said ? `; events: ${said}` : ''}`, sandbox, 'Check that the node is Ready and that lading\'s namespace allows privileged pods; --agent-image picks another image.');
    }
    await sleep(pollDelayMs(round), signal);
  }
}

/** Finds the loader + chroot pair that runs the host's /bin/sh from inside the agent. */
async function findHostPrefix(conn: ClusterConnection, namespace: string, pod: string, node: string, arch: string, signal?: AbortSignal): Promise<string[]> {
  const tried: string[] = [];
  for (const loader of LOADERS[arch]!) {
    for (const chroot of CHROOTS) {
      const prefix = [loader, '--library-path', LIBRARY_PATHS[arch]!, chroot, '/host'];
      const result = await execInPod(conn.kc, {
        namespace,
        pod,
        container: CONTAINER,
        command: [...prefix, '/bin/sh', '-c', 'echo lading-host-ok'],
        ...(signal ? { signal } : {}),
      }).catch((error: unknown) => ({ exitCode: -1, message: (error as Error).message, stdout: '', stderr: '' }));
      if (result.exitCode === 0 && result.stdout.includes('lading-host-ok')) return prefix;
      tried.push(`${loader} + ${chroot}`);
      // A missing loader fails for every chroot: skip to the next loader.
      const said = `${result.message} ${result.stderr}`;
      if (/no such file|not found|exec format/i.test(said) && said.includes(loader)) break;
    }
  }
  throw new AbortError(`node ${node}: could not run the host's shell from the agent pod (tried ${tried.length} loader/chroot paths)`, {
    exitCode: ExitCode.node,
    hint: 'The host needs /bin/sh and chroot; report the node\'s OS if this is a common distribution.',
  });
}
