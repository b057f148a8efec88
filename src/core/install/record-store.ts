/**
 * The node records (node-record.ts) in the cluster: read one, and add an
 * install to it (read, change, write with the version read, once more on a
 * conflict with another run).
 */
import type * as k8s from '@kubernetes/client-node';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';
import { parseRecord, RECORD_KEY, RECORD_LABELS, recordName, nodeLabelValue, withInstall, type NodeRecord, type RecordedInstall } from './node-record.js';

type Core = Pick<ClusterConnection['core'], 'readNamespacedConfigMap' | 'createNamespacedConfigMap' | 'replaceNamespacedConfigMap'>;

async function readConfigMap(core: Core, namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined> {
  try {
    return await core.readNamespacedConfigMap({ namespace, name });
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    return api(`read ConfigMap ${namespace}/${name}`, () => Promise.reject(error));
  }
}

/** The node's record, or undefined when there is none (or it is not one lading can read). */
export async function readNodeRecord(core: Core, namespace: string, node: string): Promise<NodeRecord | undefined> {
  const map = await readConfigMap(core, namespace, recordName(node));
  const text = map?.data?.[RECORD_KEY];
  return text === undefined ? undefined : parseRecord(text, node);
}

function configMap(namespace: string, record: NodeRecord, resourceVersion?: string): k8s.V1ConfigMap {
  const label = nodeLabelValue(record.node);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: recordName(record.node),
      namespace,
      labels: { ...RECORD_LABELS, ...(label ? { 'lading.dev/node': label } : {}) },
      annotations: { 'lading.dev/node': record.node },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    data: { [RECORD_KEY]: JSON.stringify(record, null, 1) },
  };
}

/** Adds an install to the node's record. */
export async function recordInstall(core: Core, namespace: string, node: string, install: RecordedInstall, sandboxImage?: string): Promise<void> {
  const name = recordName(node);
  for (let attempt = 1; ; attempt++) {
    const current = await readConfigMap(core, namespace, name);
    const previous = current?.data?.[RECORD_KEY] === undefined ? undefined : parseRecord(current.data[RECORD_KEY], node);
    const body = configMap(namespace, withInstall(previous, node, install, sandboxImage), current?.metadata?.resourceVersion);
    try {
      if (current) await core.replaceNamespacedConfigMap({ namespace, name, body });
      else await core.createNamespacedConfigMap({ namespace, body });
      return;
    } catch (error) {
      // Another run wrote it in between: read it again and add to what it wrote.
      if (apiStatus(error) === 409 && attempt < 3) continue;
      await api(`write ConfigMap ${namespace}/${name}`, () => Promise.reject(error));
    }
  }
}
