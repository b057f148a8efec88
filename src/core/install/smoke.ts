/**
 * Proof that a node can start the injected images without pulling: pods
 * pinned to the node, one container per image, by name and by the source
 * digest (a digest users pin must resolve offline), both with
 * `imagePullPolicy: Never`. The kubelet looks an image up the same way under
 * Never as under IfNotPresent, but Never cannot pull: a proof pod never
 * changes what the node holds, so it may run before the runtime's listing
 * has confirmed the images (early-proof.ts). What counts is the kubelet's
 * own signal that it found each image locally (proof.ts), not whether the
 * image runs: data-only and distroless images are proven as well.
 */
import type * as k8s from '@kubernetes/client-node';
import { sleep } from '../oci/retry.js';
import { pollDelayMs } from '../util/poll.js';
import type { BundleImage } from '../bundle/layout.js';
import { digestName } from '../bundle/node-archive.js';
import type { ClusterConnection } from '../cluster/kube.js';
import { pinnedPod } from '../cluster/pods.js';
import { containerEvents, containerVerdict, pullVerdict, waitingFor, type Verdict } from './proof.js';
import type { ImageProof, ImageReport, SmokeReport } from './report.js';

/** Containers per pod: enough for most bundles in one pod, few enough to start at once on a small node. */
const PER_POD = 16;

/**
 * How long a failed pull (`Always`) may still turn into a pull: the kubelet tries again after 10 s and
 * 20 s, and a first failure can be passing (a pull Secret the kubelet may not read yet because the node
 * authorizer has not linked it to the new pod, a registry that just started).
 */
export const PULL_GRACE_MS = 35_000;

type Policy = 'Never' | 'Always';

/** PodSecurity `restricted`'s demands, for namespaces that enforce it (the ConfigMap bootstrap's). */
export interface RestrictedContexts {
  pod: k8s.V1PodSecurityContext;
  container: k8s.V1SecurityContext;
  /** Secrets the pods pull with (the in-cluster registry's credentials, where nodes hold none). */
  imagePullSecrets?: string[];
}

function smokePod(namespace: string, node: string, images: string[], policy: Policy, restricted?: RestrictedContexts): k8s.V1Pod {
  const pod = pinnedPod({
    namespace,
    node,
    generateName: 'lading-smoke-',
    labels: { 'app.kubernetes.io/name': 'lading-smoke' },
    containers: images.map((image, i) => ({ name: `i${i}`, image, imagePullPolicy: policy, ...(restricted ? { securityContext: restricted.container } : {}) })),
  });
  if (restricted) pod.spec!.securityContext = restricted.pod;
  if (restricted?.imagePullSecrets?.length) pod.spec!.imagePullSecrets = restricted.imagePullSecrets.map((name) => ({ name }));
  return pod;
}

/** Starts one pod and waits until the kubelet gave a verdict on each container (or the time is up); the pod is deleted after. */
async function verdicts(conn: ClusterConnection, pod: k8s.V1Pod, policy: Policy, timeoutMs: number, signal?: AbortSignal): Promise<Array<{ proof: string } | { failure: string }>> {
  signal?.throwIfAborted();
  const namespace = pod.metadata!.namespace!;
  const containers = pod.spec!.containers.map((c) => c.name);
  const found: Verdict[] = containers.map(() => undefined);
  const created = await conn.core.createNamespacedPod({ namespace, body: pod });
  const name = created.metadata!.name!;
  try {
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (let round = 0; ; round++) {
      if (signal?.aborted) throw signal.reason;
      const current = await conn.core.readNamespacedPod({ namespace, name });
      const events = (await conn.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
      const statuses = current.status?.containerStatuses ?? [];
      // A failed pull is final only once the kubelet's retries within the grace could not turn it.
      const pullSettled = Date.now() - started >= Math.min(PULL_GRACE_MS, timeoutMs);
      containers.forEach((c, i) => {
        const status = statuses.find((s) => s.name === c);
        if (policy === 'Never') found[i] ??= containerVerdict(status, containerEvents(events, c));
        else if (!found[i]) {
          const verdict = pullVerdict(status, containerEvents(events, c));
          if (verdict && ('proof' in verdict || pullSettled)) found[i] = verdict;
        }
      });
      if (found.every(Boolean)) return found as Array<{ proof: string } | { failure: string }>;
      if (Date.now() > deadline) {
        return containers.map((c, i) => found[i] ?? (policy === 'Always' ? pullVerdict(statuses.find((s) => s.name === c), containerEvents(events, c)) : undefined) ?? { failure: `no sign from the kubelet after ${timeoutMs / 1000}s (${waitingFor(statuses.find((s) => s.name === c), current.status?.phase)})` });
      }
      await sleep(pollDelayMs(round), signal);
    }
  } finally {
    await conn.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

async function prove(conn: ClusterConnection, namespace: string, node: string, names: string[], policy: Policy, timeoutMs: number, signal?: AbortSignal, restricted?: RestrictedContexts) {
  const results: Array<{ proof: string } | { failure: string }> = [];
  for (let i = 0; i < names.length; i += PER_POD) {
    results.push(...(await verdicts(conn, smokePod(namespace, node, names.slice(i, i + PER_POD), policy, restricted), policy, timeoutMs, signal)));
  }
  return results;
}

export interface SmokeResult {
  smoke: SmokeReport;
  proofs: Map<string, ImageProof>;
}

/** Per image how it was proven (or why not), and the node's one-line summary. */
export async function runSmokePods(
  conn: ClusterConnection,
  options: { namespace: string; node: string; images: BundleImage[]; timeoutMs?: number; signal?: AbortSignal | undefined },
): Promise<SmokeResult> {
  const { namespace, node, images, signal } = options;
  const timeout = options.timeoutMs ?? 90_000;
  const byDigestNames = images.map((image) => digestName(image) ?? image.name);
  // Both settle before any failure is thrown: each deletes its own pods on the way out.
  const settled = await Promise.allSettled([
    prove(conn, namespace, node, images.map((i) => i.name), 'Never', timeout, signal),
    prove(conn, namespace, node, byDigestNames, 'Never', timeout, signal),
  ]);
  const [byName, byDigest] = settled.map((s) => {
    if (s.status === 'rejected') throw s.reason;
    return s.value;
  }) as [Awaited<ReturnType<typeof prove>>, Awaited<ReturnType<typeof prove>>];
  const proofs = new Map<string, ImageProof>();
  const failures: string[] = [];
  images.forEach((image, i) => {
    const tag = byName[i]!;
    const digest = byDigest[i]!;
    const proof: ImageProof = {};
    if ('proof' in tag) proof.byName = tag.proof;
    else failures.push(`${image.name} by name: ${tag.failure}`);
    if ('proof' in digest) proof.byDigest = digest.proof;
    else failures.push(`${image.name} by digest ${byDigestNames[i]}: ${digest.failure}`);
    proofs.set(image.name, proof);
  });
  const smoke: SmokeReport = {
    image: images.map((i) => i.name).join(', '),
    ok: failures.length === 0,
    detail: failures.length ? failures.join('; ') : `found without a pull by name and by digest (Never): ${images.length} image${images.length === 1 ? '' : 's'}`,
  };
  return { smoke, proofs };
}

/**
 * Registry mode: per image, a pod by its original name with `Always`, so the
 * kubelet must pull it, which on an air-gapped node only the in-cluster
 * registry (through the node's mirror configuration) can serve.
 */
export async function runPullPods(
  conn: ClusterConnection,
  options: {
    namespace: string;
    node: string;
    images: BundleImage[];
    /** Pull these references instead of the images' names (the in-cluster registry's, without node configuration). */
    references?: string[];
    restricted?: RestrictedContexts;
    timeoutMs?: number;
    signal?: AbortSignal;
  },
): Promise<{ smoke: SmokeReport; pulls: Map<string, { proof: string } | { failure: string }> }> {
  const { namespace, node, images, signal } = options;
  const refs = options.references ?? images.map((i) => i.name);
  const results = await prove(conn, namespace, node, refs, 'Always', options.timeoutMs ?? 120_000, signal, options.restricted);
  const pulls = new Map(images.map((image, i) => [image.name, results[i]!]));
  const failures = images.flatMap((image, i) => ('failure' in results[i]! ? [`${refs[i]}: ${results[i]!.failure}`] : []));
  return {
    pulls,
    smoke: {
      image: images.map((i) => i.name).join(', '),
      ok: failures.length === 0,
      detail: failures.length
        ? failures.join('; ')
        : `pulled by ${options.references ? 'in-cluster reference' : 'original name'} (Always) from the in-cluster registry: ${images.length} image${images.length === 1 ? '' : 's'}`,
    },
  };
}

/** Registry mode's image rows from pull verdicts: present with the kubelet's pull as proof, or missing with why. */
export function pulledImageReports(images: BundleImage[], pulls: Map<string, { proof: string } | { failure: string }>): ImageReport[] {
  return images.map((image) => {
    const verdict = pulls.get(image.name);
    return verdict && 'proof' in verdict
      ? { name: image.name, digest: image.root.digest, outcome: 'present' as const, proof: { byPull: verdict.proof } }
      : { name: image.name, digest: image.root.digest, outcome: 'missing' as const, detail: verdict?.failure ?? 'not pulled' };
  });
}
