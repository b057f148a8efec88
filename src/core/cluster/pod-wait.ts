/** Waiting for a pod of lading's to be Ready, and saying why when it will not be (its state and its events). */
import type * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { api, type ClusterConnection } from './kube.js';

/**
 * Waits until a pod of `selector` is Ready; a container state that waiting will not mend (or the
 * deadline) is an AbortError with the pod's warning events. `pullIsFatal`: a failed pull counts as such
 * (an image that only a loopback NodePort serves will not come from anywhere else).
 */
export async function waitForReadyPod(
  conn: ClusterConnection,
  namespace: string,
  selector: string,
  what: string,
  options: { timeoutMs?: number; signal?: AbortSignal; pullIsFatal?: boolean; hint: string },
): Promise<k8s.V1Pod> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const deadline = Date.now() + timeoutMs;
  let last: k8s.V1Pod | undefined;
  // A NodePort only just made may not be in kube-proxy's rules yet: the kubelet's first pull can fail
  // before its retry (10 s later) succeeds. A failed pull is fatal once it outlasts that.
  let pullFailingSince: number | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const pods = await api(`list ${what}`, () => conn.core.listNamespacedPod({ namespace, labelSelector: selector }));
    const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    last = live[0];
    const ready = live.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready) return ready;
    const pullFailing = options.pullIsFatal === true && live.some((p) => failureOf(p, true) !== failureOf(p, false));
    pullFailingSince = pullFailing ? (pullFailingSince ?? Date.now()) : undefined;
    const pullFatal = pullFailingSince !== undefined && Date.now() - pullFailingSince > PULL_RETRY_GRACE_MS;
    const stuck = live.map((p) => failureOf(p, pullFatal)).find(Boolean);
    if (stuck || Date.now() > deadline) {
      const events = last ? await podEvents(conn, namespace, last.metadata!.name!) : '';
      throw new AbortError(`${what} did not become ready${stuck ? `: ${stuck}` : ` within ${Math.round(timeoutMs / 1000)} s`}${events ? `; events: ${events}` : ''}`, {
        exitCode: ExitCode.node,
        hint: options.hint,
      });
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

const PULL_RETRY_GRACE_MS = 25_000;

/** A container state that will not get better by waiting. */
function failureOf(pod: k8s.V1Pod, pullIsFatal: boolean): string | undefined {
  for (const s of pod.status?.containerStatuses ?? []) {
    const reason = s.state?.waiting?.reason;
    const fatal = ['ErrImageNeverPull', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', ...(pullIsFatal ? ['ErrImagePull', 'ImagePullBackOff'] : [])];
    if (reason && fatal.includes(reason)) {
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
