/**
 * What proves that a node holds an image, read from the kubelet itself and
 * not from what the image does: its "already present on machine" Pulled
 * event for the container, or the container created (running or exited).
 * A container that then exits, crashes or cannot even be created because of
 * the image (no command, a foreign binary) is the image's business, not a
 * sign that lading failed. A pull, or a refusal to pull, is lading's failure.
 */
import type * as k8s from '@kubernetes/client-node';

export type Verdict = { proof: string } | { failure: string } | undefined;

/** The kubelet's words when it found the image locally (1.33+ may add "and can be accessed by the pod"). */
export const ALREADY_PRESENT = /^Container image ".*" already present on machine/;

/** Waiting reasons that mean the kubelet did not find the image on the node. */
const NOT_ON_NODE = /^(ErrImageNeverPull|ErrImagePull|ImagePullBackOff|InvalidImageName|ImageInspectError)$/;

/** The events of one container of a pod (the kubelet sets fieldPath `spec.containers{NAME}`). */
export function containerEvents(events: readonly k8s.CoreV1Event[], container: string): k8s.CoreV1Event[] {
  return events.filter((e) => e.involvedObject?.fieldPath === `spec.containers{${container}}`);
}

/**
 * One container's verdict under `imagePullPolicy: Never`, or undefined while
 * the kubelet has not said yet. Never cannot pull, so a container created
 * from the image proves it was on the node; a pull seen anyway is no proof.
 */
export function containerVerdict(status: k8s.V1ContainerStatus | undefined, events: readonly k8s.CoreV1Event[]): Verdict {
  const pulling = events.find((e) => e.reason === 'Pulling' || (e.reason === 'Pulled' && !ALREADY_PRESENT.test(e.message ?? '')));
  if (pulling) return { failure: `the kubelet pulled it (${pulling.reason}: ${pulling.message ?? ''}): it was not on the node` };
  if (events.some((e) => e.reason === 'Pulled' && ALREADY_PRESENT.test(e.message ?? ''))) return { proof: 'kubelet event "already present on machine"' };
  const waiting = status?.state?.waiting;
  if (waiting && NOT_ON_NODE.test(waiting.reason ?? '')) return { failure: `${waiting.reason}: ${waiting.message ?? ''}`.trim() };
  if (status?.state?.running) return { proof: 'container started' };
  const done = status?.state?.terminated;
  if (done) return { proof: `container ran (exited ${done.exitCode}${done.reason ? `, ${done.reason}` : ''})` };
  return undefined;
}

/** What a container still waits for, for a timeout message. */
export function waitingFor(status: k8s.V1ContainerStatus | undefined, phase: string | undefined): string {
  const waiting = status?.state?.waiting;
  return waiting ? `${waiting.reason ?? 'waiting'}${waiting.message ? `: ${waiting.message}` : ''}` : (phase ?? 'unknown');
}

/**
 * A container with `imagePullPolicy: Always`: the proof is the kubelet's own
 * "Successfully pulled" event (the pull went through); a pull error is the
 * failure, with the kubelet's words.
 */
export function pullVerdict(status: k8s.V1ContainerStatus | undefined, events: readonly k8s.CoreV1Event[]): Verdict {
  const pulled = events.find((e) => e.reason === 'Pulled' && !ALREADY_PRESENT.test(e.message ?? ''));
  if (pulled) return { proof: `kubelet event "${(pulled.message ?? 'pulled').replace(/^Successfully pulled image "[^"]*"\s*/, 'Successfully pulled ').slice(0, 120)}"` };
  const waiting = status?.state?.waiting;
  if (waiting && NOT_ON_NODE.test(waiting.reason ?? '') && waiting.reason !== 'ErrImageNeverPull') {
    const failedEvent = events.filter((e) => e.reason === 'Failed').at(-1);
    return { failure: `${waiting.reason}: ${(failedEvent?.message ?? waiting.message ?? '').slice(0, 300)}`.trim() };
  }
  return undefined;
}
