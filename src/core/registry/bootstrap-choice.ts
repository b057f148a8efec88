/**
 * Registry mode's way onto a node, per cluster: node injection needs exec into privileged agent pods; where
 * either is refused (no pods/exec, or a namespace whose PodSecurity is not privileged and that lading must
 * not relabel), the ConfigMap injector, which needs neither. `--bootstrap` forces one.
 */
import { apiStatus, type ClusterConnection } from '../cluster/kube.js';
import { isAllowed } from '../cluster/preflight.js';

export type Bootstrap = 'exec' | 'configmap';

export async function chooseBootstrap(conn: ClusterConnection, namespace: string): Promise<{ bootstrap: Bootstrap; reason: string }> {
  if (!(await isAllowed(conn, { verb: 'create', resource: 'pods', subresource: 'exec', namespace }))) {
    return { bootstrap: 'configmap', reason: `this identity may not create pods/exec in ${namespace}` };
  }
  let enforce: string | undefined;
  try {
    enforce = (await conn.core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'];
  } catch (error) {
    if (apiStatus(error) !== 404 && apiStatus(error) !== 403) throw error;
  }
  if (enforce && enforce !== 'privileged') {
    return { bootstrap: 'configmap', reason: `namespace ${namespace} enforces PodSecurity ${enforce}, which admits no privileged agent` };
  }
  return { bootstrap: 'exec', reason: 'exec and privileged agent pods are allowed' };
}
