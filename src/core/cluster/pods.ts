/** The shape every pod lading starts on a node shares: pinned, tolerating every taint, short-lived, no API token. */
import type * as k8s from '@kubernetes/client-node';

export function pinnedPod(options: { namespace: string; node: string; generateName: string; labels: Record<string, string>; containers: k8s.V1Container[]; volumes?: k8s.V1Volume[] }): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: options.generateName, namespace: options.namespace, labels: { 'app.kubernetes.io/managed-by': 'lading', ...options.labels } },
    spec: {
      nodeName: options.node,
      restartPolicy: 'Never',
      tolerations: [{ operator: 'Exists' }],
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      containers: options.containers,
      ...(options.volumes ? { volumes: options.volumes } : {}),
    },
  };
}
