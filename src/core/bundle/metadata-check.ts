/**
 * lading.json and index.json are read from a file that crossed an air gap on
 * media nobody fully trusts: before any command uses them they pass the same
 * rules the spec loader applies (references, platforms, registry hosts, mirror
 * URLs, sha256 digests, real sizes), and the two files must describe the same
 * images. What the manifests themselves say is checked by verify
 * (./claims.ts), which reads the blobs.
 */
import { CLUSTER_UID } from '../inventory/inventory.js';
import { InvalidReferenceError, formatReference, parseReference } from '../oci/reference.js';
import { Problems, BUNDLE_NAME, BUNDLE_VERSION, ROOT_MEDIA_TYPES, SHA256_DIGEST, checkDescriptor, checkIndex, checkMirror, checkPlatformText } from '../oci/validate.js';
import type { ImageIndex } from '../oci/types.js';
import { printable } from '../util/printable.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SOURCE, METADATA_SCHEMA, layoutMediaType, type BundleBlobRef, type BundleImage, type BundleMetadata } from './layout.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (v: unknown): string => (typeof v === 'string' ? `"${printable(v.slice(0, 200))}"` : JSON.stringify(v)?.slice(0, 60) ?? String(v));
const MAX_IMAGES = 100_000;
const MAX_PLATFORMS = 64;

function checkBlobRef(value: unknown, path: string, problems: Problems): value is BundleBlobRef {
  if (!isObject(value)) return problems.add(path, 'expected {digest, size, mediaType}'), false;
  return checkDescriptor({ digest: value.digest, size: value.size, mediaType: value.mediaType }, path, problems) !== undefined;
}

function checkShortText(value: unknown, path: string, problems: Problems, max = 128): value is string {
  if (typeof value === 'string' && value.length > 0 && value.length <= max && printable(value) === value) return true;
  problems.add(path, `expected printable text of at most ${max} characters, got ${shown(value)}`);
  return false;
}

function checkImage(value: unknown, path: string, problems: Problems): void {
  if (!isObject(value)) return problems.add(path, 'expected an image {source, name, root, platforms}');
  const { source, name, root, platforms } = value;
  if (typeof source !== 'string' || typeof name !== 'string') return problems.add(path, 'expected source and name strings');
  try {
    const ref = parseReference(source);
    if (formatReference(ref) !== name) problems.add(`${path}.name`, `${shown(name)} is not the normalised form of its source ${shown(source)} (${formatReference(ref)})`);
    if (ref.digest && isObject(root) && root.digest !== ref.digest) problems.add(`${path}.root.digest`, `${shown(name)} pins ${ref.digest} but its root is ${shown(root.digest)}`);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    problems.add(`${path}.source`, printable(error.message));
  }
  if (checkBlobRef(root, `${path}.root`, problems) && !ROOT_MEDIA_TYPES.has(root.mediaType)) {
    problems.add(`${path}.root.mediaType`, `${shown(root.mediaType)} is not an image index or manifest type`);
  }
  if (!Array.isArray(platforms) || platforms.length === 0 || platforms.length > MAX_PLATFORMS) return problems.add(`${path}.platforms`, `expected 1 to ${MAX_PLATFORMS} platforms`);
  const seen = new Set<string>();
  platforms.forEach((p, i) => {
    const at = `${path}.platforms[${i}]`;
    if (!isObject(p)) return problems.add(at, 'expected {platform, manifest, config, layers}');
    const text = checkPlatformText(p.platform, `${at}.platform`, problems);
    if (text && seen.has(text)) problems.add(`${at}.platform`, `${text} is listed twice`);
    if (text) seen.add(text);
    checkBlobRef(p.manifest, `${at}.manifest`, problems);
    checkBlobRef(p.config, `${at}.config`, problems);
    if (!Array.isArray(p.layers) || p.layers.length > 1000) return problems.add(`${at}.layers`, 'expected a list of at most 1000 layers');
    p.layers.forEach((l, j) => checkBlobRef(l, `${at}.layers[${j}]`, problems));
  });
}

/** lading.json, checked field by field; the typed document only when nothing was wrong. */
export function checkMetadata(value: unknown, problems: Problems): BundleMetadata | undefined {
  if (!isObject(value)) return problems.add('', 'expected a JSON object'), undefined;
  if (value.schema !== METADATA_SCHEMA) return problems.add('schema', `is ${shown(value.schema)}, lading reads ${METADATA_SCHEMA}`), undefined;
  const before = problems.list.length;
  if (typeof value.name !== 'string' || !BUNDLE_NAME.test(value.name)) problems.add('name', `${shown(value.name)} is not a lowercase bundle name`);
  if (typeof value.version !== 'string' || !BUNDLE_VERSION.test(value.version)) problems.add('version', `${shown(value.version)} is not a version (letters, digits, . _ + ~ -)`);
  if (typeof value.createdAt !== 'string' || value.createdAt.length > 40 || Number.isNaN(Date.parse(value.createdAt))) problems.add('createdAt', `${shown(value.createdAt)} is not a date`);
  const tool = value.tool;
  if (!isObject(tool) || tool.name !== 'lading') problems.add('tool', 'expected {name: "lading", version}');
  else checkShortText(tool.version, 'tool.version', problems, 64);
  const images = value.images;
  if (!Array.isArray(images) || images.length === 0 || images.length > MAX_IMAGES) problems.add('images', `expected 1 to ${MAX_IMAGES} images`);
  else {
    images.forEach((image, i) => checkImage(image, `images[${i}]`, problems));
    const names = new Set<string>();
    for (const image of images as Array<{ name?: unknown }>) {
      if (typeof image?.name !== 'string') continue;
      if (names.has(image.name)) problems.add('images', `${shown(image.name)} is listed twice`);
      names.add(image.name);
    }
  }
  if (!Array.isArray(value.platforms)) problems.add('platforms', 'expected a list of platforms');
  else {
    value.platforms.forEach((p, i) => checkPlatformText(p, `platforms[${i}]`, problems));
    if (problems.list.length === before) {
      const union = [...new Set((images as BundleImage[]).flatMap((i) => i.platforms.map((p) => p.platform)))].sort();
      if (JSON.stringify(union) !== JSON.stringify(value.platforms)) problems.add('platforms', `says ${shown(value.platforms.join(', '))}, the images have ${union.join(', ')}`);
    }
  }
  if (value.mirrors !== undefined) {
    if (!Array.isArray(value.mirrors) || value.mirrors.length > 64) problems.add('mirrors', 'expected a list of at most 64 mirrors');
    else {
      const registries = new Set<string>();
      value.mirrors.forEach((m, i) => {
        const mirror = checkMirror(m, `mirrors[${i}]`, problems);
        if (mirror && registries.has(mirror.registry)) problems.add(`mirrors[${i}].registry`, `${mirror.registry} is listed twice`);
        if (mirror) registries.add(mirror.registry);
      });
    }
  }
  checkRegistry(value, problems);
  checkDelta(value, problems);
  return problems.list.length === before ? (value as unknown as BundleMetadata) : undefined;
}

/** Registry mode's registry: one of the bundle's own images, on a real port. */
function checkRegistry(value: Record<string, unknown>, problems: Problems): void {
  const { registry } = value;
  if (registry === undefined) return;
  const names = new Set(((value.images as Array<{ name?: unknown }> | undefined) ?? []).map((i) => i?.name));
  if (!isObject(registry) || typeof registry.image !== 'string' || !names.has(registry.image)) {
    return problems.add('registry.image', `${shown(isObject(registry) ? registry.image : registry)} is not one of the bundle's images`);
  }
  if (!Number.isInteger(registry.port) || (registry.port as number) < 1 || (registry.port as number) > 65535) problems.add('registry.port', `${shown(registry.port)} is not a port`);
}

/** A delta's base and the layers it leaves out: each one a layer some image uses, with that size. */
function checkDelta(value: Record<string, unknown>, problems: Problems): void {
  const { base, omitted } = value;
  if (base === undefined && omitted === undefined) return;
  if (!isObject(base) || typeof base.name !== 'string' || !BUNDLE_NAME.test(base.name) || typeof base.version !== 'string' || !BUNDLE_VERSION.test(base.version) || typeof base.metadataDigest !== 'string' || !SHA256_DIGEST.test(base.metadataDigest)) {
    return problems.add('base', 'expected {name, version, metadataDigest} of the bundle this delta was made against');
  }
  if (base.cluster !== undefined && (typeof base.cluster !== 'string' || !CLUSTER_UID.test(base.cluster))) problems.add('base.cluster', `${shown(base.cluster)} is not a cluster's uid`);
  if (!Array.isArray(omitted) || omitted.length > 1_000_000) return problems.add('omitted', 'expected the list of layers the delta leaves out');
  const layers = new Map<string, number>();
  for (const image of (value.images as BundleImage[] | undefined) ?? []) for (const p of image.platforms ?? []) for (const l of p.layers ?? []) layers.set(l.digest, l.size);
  const seen = new Set<string>();
  omitted.forEach((o, i) => {
    const digest = isObject(o) ? o.digest : undefined;
    if (typeof digest !== 'string' || !SHA256_DIGEST.test(digest) || !isObject(o) || layers.get(digest) !== o.size) problems.add(`omitted[${i}]`, `${shown(digest)} is not a layer of this bundle's images with that size`);
    else if (seen.has(digest)) problems.add(`omitted[${i}]`, `${digest} is listed twice`);
    else seen.add(digest);
  });
}

/**
 * index.json: a valid index whose entries are exactly lading.json's images
 * (same name in both annotations, same source, digest, size and layout media
 * type), so a tool that reads only index.json (ctr import, skopeo) sees the
 * images lading verified, and no other.
 */
export function checkLayoutIndex(value: unknown, metadata: BundleMetadata, problems: Problems): ImageIndex | undefined {
  const index = checkIndex(value, 'index.json', problems);
  if (!index) return undefined;
  const before = problems.list.length;
  const byName = new Map(metadata.images.map((image) => [image.name, image]));
  const seen = new Set<string>();
  index.manifests.forEach((d, i) => {
    const at = `index.json manifests[${i}]`;
    const name = d.annotations?.[ANNOTATION_CONTAINERD_NAME];
    const image = name === undefined ? undefined : byName.get(name);
    if (!image) return problems.add(at, `${shown(name)} is not an image lading.json describes`);
    if (seen.has(image.name)) return problems.add(at, `${image.name} has two entries`);
    seen.add(image.name);
    if (d.annotations?.[ANNOTATION_REF_NAME] !== image.name) problems.add(at, `ref.name ${shown(d.annotations?.[ANNOTATION_REF_NAME])} differs from ${image.name}`);
    const source = d.annotations?.[ANNOTATION_SOURCE];
    if (source !== undefined && source !== image.source) problems.add(at, `source ${shown(source)} differs from lading.json's ${shown(image.source)}`);
    if (d.digest !== image.root.digest || d.size !== image.root.size || d.mediaType !== layoutMediaType(image.root.mediaType)) {
      problems.add(at, `${image.name} points at ${d.digest} (${d.size} bytes, ${shown(d.mediaType)}), lading.json at ${image.root.digest} (${image.root.size} bytes)`);
    }
  });
  for (const image of metadata.images) if (!seen.has(image.name)) problems.add('index.json', `has no entry for ${image.name}`);
  return problems.list.length === before ? index : undefined;
}
