/** Nodes and bundle images as tests beside the install code need them (no cluster, no bundle file). */
import type * as k8s from '@kubernetes/client-node';
import type { BundleImage } from '../bundle/layout.js';
import { describeNode, type NodeFacts } from '../cluster/preflight.js';

export const digestOf = (c: string) => `sha256:${c.repeat(64)}`;

/** A bundle image with one platform whose layers add up to `bytes`. */
export function bundleImage(name: string, root: string, platforms = ['linux/amd64'], bytes = 1000): BundleImage {
  const blob = (d: string, size: number) => ({ digest: d, size, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  return {
    name,
    source: name,
    root: blob(root, 100),
    platforms: platforms.map((platform, i) => ({ platform, manifest: blob(digestOf(String(i + 1)), 10), config: blob(digestOf(String(i + 5)), 10), layers: [blob(`${root.slice(0, -1)}${i}`, bytes)] })),
  };
}

export interface NodeShape {
  name?: string;
  arch?: string;
  runtime?: string;
  ready?: boolean;
  images?: Array<{ names: string[]; sizeBytes?: number }>;
  bootID?: string;
  annotations?: Record<string, string>;
}

export function nodeObject(shape: NodeShape = {}): k8s.V1Node {
  return {
    metadata: { name: shape.name ?? 'node-a', ...(shape.annotations ? { annotations: shape.annotations } : {}) },
    status: {
      nodeInfo: {
        architecture: shape.arch ?? 'amd64',
        operatingSystem: 'linux',
        containerRuntimeVersion: shape.runtime ?? 'containerd://2.2.9',
        kubeletVersion: 'v1.34.4',
        bootID: shape.bootID ?? 'boot-1',
      } as k8s.V1NodeSystemInfo,
      conditions: [{ type: 'Ready', status: shape.ready === false ? 'False' : 'True' }],
      images: shape.images ?? [{ names: ['registry.k8s.io/pause:3.10', `registry.k8s.io/pause@${digestOf('9')}`], sizeBytes: 300_000 }],
    },
  } as k8s.V1Node;
}

export const nodeFacts = (shape: NodeShape = {}): NodeFacts => describeNode(nodeObject(shape));
