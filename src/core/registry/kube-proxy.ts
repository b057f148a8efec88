/**
 * Whether a node's runtime can reach a NodePort Service as 127.0.0.1:PORT, which the ConfigMap bootstrap
 * relies on (runtimes pull over plain HTTP only from loopback, and PodSecurity forbids hostPort and
 * hostNetwork). That takes kube-proxy in iptables mode with localhost NodePorts on (its default) and an
 * IPv4 node; nftables and IPVS mode do not serve NodePorts on loopback, and an IPv6-only node has no
 * 127.0.0.1 route for them (Zarf issues 3745 and 2464). kube-proxy's configuration is read where kubeadm
 * keeps it (ConfigMap kube-system/kube-proxy); a cluster that does not say is tried, and a failed pull of
 * the registry then names this as the likely cause.
 */
import { AbortError, ExitCode } from '../errors.js';
import { apiStatus, type ClusterConnection } from '../cluster/kube.js';
import type { NodeFacts } from '../cluster/preflight.js';

/** kube-proxy's config.conf (YAML) -> why localhost NodePorts will not work, or undefined when they should. */
export function localhostNodePortProblem(config: string): string | undefined {
  const mode = /^mode:\s*"?([A-Za-z]*)"?\s*$/m.exec(config)?.[1] ?? '';
  if (mode && mode !== 'iptables') return `kube-proxy runs in ${mode} mode, which serves no NodePort on 127.0.0.1`;
  const block = /^iptables:\s*\n((?:[ \t]+.*\n?)*)/m.exec(config)?.[1] ?? '';
  if (/^\s+localhostNodePorts:\s*false\s*$/m.test(block)) return 'kube-proxy has localhostNodePorts: false';
  return undefined;
}

/** Refuses what cannot work; otherwise says what it found (for the plan): kube-proxy's mode, or why it could not tell. */
export async function localhostNodePortsWork(conn: ClusterConnection, node: NodeFacts): Promise<string> {
  const addresses = (node.node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
  const hint = 'The ConfigMap bootstrap needs kube-proxy in iptables mode (localhost NodePorts) on an IPv4 node; use --bootstrap exec where exec and privileged pods are allowed.';
  if (addresses.length > 0 && addresses.every((a) => a.includes(':'))) {
    throw new AbortError(`node ${node.name} has only IPv6 addresses (${addresses.join(', ')}): its runtime cannot reach a NodePort as 127.0.0.1`, { exitCode: ExitCode.node, hint });
  }
  let config: string | undefined;
  let unknown = 'ConfigMap kube-system/kube-proxy does not exist';
  try {
    config = (await conn.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-proxy' })).data?.['config.conf'];
  } catch (error) {
    const status = apiStatus(error);
    if (status === 403) unknown = 'lading may not read ConfigMap kube-system/kube-proxy';
    else if (status !== 404) throw error;
  }
  if (config === undefined) return `kube-proxy's mode unknown (${unknown}): tried`;
  const problem = localhostNodePortProblem(config);
  if (problem) throw new AbortError(`${problem} (ConfigMap kube-system/kube-proxy): node ${node.name} could not pull from the injector`, { exitCode: ExitCode.node, hint });
  return 'kube-proxy in iptables mode with localhost NodePorts (ConfigMap kube-system/kube-proxy)';
}
