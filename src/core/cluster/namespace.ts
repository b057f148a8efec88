/**
 * What lading may do with the namespace its agents run in. The agents are
 * privileged pods, which PodSecurity admits only where the namespace's
 * `enforce` level allows them. lading labels a namespace only when it created
 * it (and marks it so); a namespace someone else made keeps its labels: used
 * as it is when it admits privileged pods, refused with the way out when it
 * does not. So lading never relabels what it does not own, and there is
 * nothing of anyone else's for `--restore` to put back.
 */
import { AbortError, ExitCode } from '../errors.js';
import { printable } from '../util/printable.js';

export const ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

/** The labels of a namespace lading creates: PodSecurity admits (and does not warn about) its agents; the mark says it is lading's. */
export const NAMESPACE_LABELS: Readonly<Record<string, string>> = {
  [ENFORCE_LABEL]: 'privileged',
  'pod-security.kubernetes.io/audit': 'privileged',
  'pod-security.kubernetes.io/warn': 'privileged',
  [MANAGED_BY_LABEL]: 'lading',
};

export type NamespaceStep =
  | { action: 'create'; labels: Record<string, string> }
  /** Exists and admits privileged pods: nothing to change. */
  | { action: 'use' }
  /** lading's own namespace lost its labels: put them back (merge patch of these labels only). */
  | { action: 'label'; labels: Record<string, string> }
  | { action: 'refuse'; error: AbortError };

export interface NamespaceLike {
  metadata?: { labels?: Record<string, string>; deletionTimestamp?: unknown };
}

/** Decides from the namespace as read (undefined: it does not exist) what ensureNamespace does; changes nothing. */
export function namespaceStep(name: string, existing: NamespaceLike | undefined): NamespaceStep {
  if (!existing) return { action: 'create', labels: { ...NAMESPACE_LABELS } };
  if (existing.metadata?.deletionTimestamp) {
    return refuse(`namespace ${name} is being deleted, so lading's agents cannot start in it`, 'Wait until it is gone and run lading again (lading creates it anew), or pass another --namespace.');
  }
  const labels = existing.metadata?.labels ?? {};
  const enforce = labels[ENFORCE_LABEL];
  // No enforce label: the cluster's default level applies, which lading cannot read; an agent refused by it says so.
  const admitsPrivileged = enforce === undefined || enforce === 'privileged';
  if (labels[MANAGED_BY_LABEL] === 'lading') {
    return Object.entries(NAMESPACE_LABELS).every(([k, v]) => labels[k] === v) ? { action: 'use' } : { action: 'label', labels: { ...NAMESPACE_LABELS } };
  }
  if (admitsPrivileged) return { action: 'use' };
  return refuse(
    `namespace ${name} was not created by lading, and its label ${ENFORCE_LABEL}=${printable(enforce.slice(0, 63))} refuses lading's privileged agent pods; lading does not relabel a namespace it does not own`,
    `Leave out --namespace (lading creates lading-system and labels it for its agents), pass a --namespace that does not exist yet, or, if privileged pods are acceptable in ${name}, label it yourself: kubectl label namespace ${name} ${ENFORCE_LABEL}=privileged --overwrite`,
  );
}

function refuse(message: string, hint: string): NamespaceStep {
  return { action: 'refuse', error: new AbortError(message, { exitCode: ExitCode.permission, hint }) };
}
