/**
 * A bundle can claim any name, and nothing proves it pulled what it claims:
 * an image named like the node's sandbox (pause) image would replace the one
 * every pod on the node starts from. lading never does that; a bundle may
 * carry the sandbox image only with the content the node already has.
 */
import type * as k8s from '@kubernetes/client-node';
import type { BundleImage } from '../bundle/layout.js';
import { pickAgentImage } from '../cluster/agent.js';

export interface SandboxConflict {
  image: string;
  bundleDigest: string;
  nodeDigests: string[];
}

/** The bundle's images that would give the node's sandbox image other content. */
export function sandboxConflicts(node: k8s.V1Node, images: readonly BundleImage[]): SandboxConflict[] {
  const sandbox = pickAgentImage(node);
  if (!sandbox) return [];
  const entry = (node.status?.images ?? []).find((i) => i.names?.includes(sandbox));
  const nodeDigests = (entry?.names ?? []).flatMap((n) => (n.includes('@sha256:') ? [n.slice(n.indexOf('@') + 1)] : []));
  return images
    .filter((image) => image.name === sandbox && !nodeDigests.includes(image.root.digest))
    .map((image) => ({ image: image.name, bundleDigest: image.root.digest, nodeDigests }));
}
