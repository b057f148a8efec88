/**
 * The bundle is one uncompressed tar that is also an OCI image layout:
 * `oci-layout`, `blobs/sha256/<hex>`, `index.json`, plus lading's own
 * `lading.json` (ignored by other tools). Each image's index.json entry points
 * at the root manifest or index exactly as the source registry served it, so
 * its digest still matches what users pin. Only the manifests of the wanted
 * platforms are stored; lading.json says which, so verify can tell a platform
 * left out on purpose from a missing blob.
 */

import { MediaType } from '../oci/media-types.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_INDEX_FILE = 'index.json';
export const METADATA_FILE = 'lading.json';
export const BLOBS_DIR = 'blobs/sha256/';
export const METADATA_SCHEMA = 'lading.dev/bundle/v1alpha1';

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
export const ANNOTATION_SOURCE = 'dev.lading.source';

export function blobPath(digest: string): string {
  return BLOBS_DIR + digest.slice(digest.indexOf(':') + 1);
}

export interface BundleBlobRef {
  digest: string;
  size: number;
  mediaType: string;
}

export interface BundlePlatformImage {
  /** Canonical platform, e.g. linux/arm64/v8. */
  platform: string;
  manifest: BundleBlobRef;
  config: BundleBlobRef;
  layers: BundleBlobRef[];
}

export interface BundleImage {
  /** As written in the spec. */
  source: string;
  /** Full normalised reference: the name on nodes. */
  name: string;
  /** The root object (index or manifest) the source tag pointed at. */
  root: BundleBlobRef;
  platforms: BundlePlatformImage[];
}

export interface BundleBase {
  name: string;
  version: string;
  /** sha256 of the base's lading.json bytes (or of the inventory file): it lists every digest of the base, so it names the base exactly. */
  metadataDigest: string;
  /** A delta made against `lading inventory`: the uid of that cluster's kube-system namespace. */
  cluster?: string;
}

export interface BundleMetadata {
  schema: typeof METADATA_SCHEMA;
  name: string;
  version: string;
  createdAt: string;
  tool: { name: 'lading'; version: string };
  platforms: string[];
  images: BundleImage[];
  /** Registry mirrors for the nodes, from the spec (absent in bundles without any). */
  mirrors?: Array<{ registry: string; endpoints: string[]; skipVerify: boolean }>;
  /** Registry mode (`install --registry`): the bundle image that runs as the in-cluster registry, and its port. */
  registry?: { image: string; port: number };
  /** A delta bundle: the bundle it was made against (lading.json's sha256 names it exactly). */
  base?: BundleBase;
  /** Layers a delta leaves out because the base (so the target) holds them. */
  omitted?: Array<{ digest: string; size: number }>;
}

/**
 * The media type an index.json entry declares. Docker manifest lists and
 * manifests are carried byte for byte (their digests are what users pin), but
 * announced with the equivalent OCI type: containers/image (skopeo, podman)
 * looks only at OCI-typed entries of an OCI layout, and containerd reads both
 * kinds of content under either type.
 */
export function layoutMediaType(mediaType: string): string {
  if (mediaType === MediaType.dockerManifestList) return MediaType.ociIndex;
  if (mediaType === MediaType.dockerManifest) return MediaType.ociManifest;
  return mediaType;
}
