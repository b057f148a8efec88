/**
 * Proof that a node can start an injected image without pulling: a pod pinned
 * to the node with `imagePullPolicy: Never` (by name), and one by the source
 * digest with `IfNotPresent` (a digest users pin must resolve offline). Each
 * must reach Running (or finish successfully, for images that exit at once).
 */
import type * as k8s from '@kubernetes/client-node';
import { sleep } from '../oci/retry.js';
import type { BundleImage } from '../bundle/layout.js';
import type { ClusterConnection } from '../cluster/kube.js';
import { pinnedPod } from '../cluster/pods.js';

export interface SmokeResult {
  image: string;
  ok: boolean;
  detail: string;
}

function smokePod(namespace: string, node: string, image: string, policy: 'Never' | 'IfNotPresent'): k8s.V1Pod {
  return pinnedPod({ namespace, node, generateName: 'lading-smoke-', labels: { 'app.kubernetes.io/name': 'lading-smoke' }, containers: [{ name: 'smoke', image, imagePullPolicy: policy }] });
}

async function startsWithoutPull(conn: ClusterConnection, pod: k8s.V1Pod, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  const namespace = pod.metadata!.namespace!;
  const created = await conn.core.createNamespacedPod({ namespace, body: pod });
  const name = created.metadata!.name!;
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const current = await conn.core.readNamespacedPod({ namespace, name });
      const status = current.status?.containerStatuses?.[0];
      if (current.status?.phase === 'Running' || current.status?.phase === 'Succeeded') return undefined;
      const waiting = status?.state?.waiting;
      if (waiting && /ErrImageNeverPull|ImagePullBackOff|ErrImagePull|InvalidImageName|CreateContainerError|CreateContainerConfigError/.test(waiting.reason ?? '')) {
        return `${waiting.reason}: ${waiting.message ?? ''}`.trim();
      }
      const terminated = status?.state?.terminated;
      if (current.status?.phase === 'Failed') return `exited ${terminated?.exitCode ?? '?'} (${terminated?.reason ?? 'failed'})`;
      if (Date.now() > deadline) return `not running after ${timeoutMs / 1000}s (${waiting?.reason ?? current.status?.phase ?? 'unknown'})`;
      await sleep(500, signal);
    }
  } finally {
    await conn.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

export async function runSmokePod(
  conn: ClusterConnection,
  options: { namespace: string; node: string; image: BundleImage; timeoutMs?: number; signal?: AbortSignal },
): Promise<SmokeResult> {
  const { namespace, node, image } = options;
  const timeout = options.timeoutMs ?? 90_000;
  const byName = await startsWithoutPull(conn, smokePod(namespace, node, image.name, 'Never'), timeout, options.signal);
  if (byName) return { image: image.name, ok: false, detail: `by name: ${byName}` };
  const repository = image.name.replace(/@.*$/, '').replace(/:[^:/]+$/, '');
  const pinned = `${repository}@${image.root.digest}`;
  const byDigest = await startsWithoutPull(conn, smokePod(namespace, node, pinned, 'IfNotPresent'), timeout, options.signal);
  if (byDigest) return { image: image.name, ok: false, detail: `by digest ${pinned}: ${byDigest}` };
  return { image: image.name, ok: true, detail: `started by name (Never) and by digest (IfNotPresent)` };
}
