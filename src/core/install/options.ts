/** What an install, check or restore run is told: the bundle, the cluster, how to reach the nodes, what to keep free. */
import type { ProgressHub } from '../progress.js';
import type { ClusterConnection } from '../cluster/kube.js';
import type { DriverOptions } from './drivers.js';
import type { StreamTransport } from '../cluster/agent.js';

export interface InstallOptions extends DriverOptions {
  bundle: string;
  conn: ClusterConnection;
  namespace: string;
  nodeSelector?: string;
  agentImage?: string;
  /** Prove only this image with pods (default: every image of the node). */
  smokeImage?: string;
  /** auth.json / config.json with credentials for the bundle's mirrors (read once the bundle is verified). */
  mirrorAuthFile?: string;
  /** Or a dockerconfigjson Secret holding them: NAME (in --namespace) or NAMESPACE/NAME. */
  mirrorAuthSecret?: string;
  /** Share of each image filesystem that must stay free after injection (default: the kubelet's image GC margin). */
  keepFreePercent?: number;
  /** Registry mode's way onto a node: node injection through agents (exec), or the ConfigMap injector (no agent at all). */
  bootstrap?: 'exec' | 'configmap';
  /** How images stream into node agents (default proxy: the receiver through pods/proxy, else exec). */
  transport?: StreamTransport;
  progress: ProgressHub;
  signal?: AbortSignal;
}

