/**
 * Where every byte of an injector payload goes, decided from sizes alone (nothing read yet): the
 * injector binary and one platform's blobs of some bundle images, cut into chunks packed into
 * ConfigMaps, and the chunk index last. The same plan answers the pre-check (how many ConfigMaps,
 * how many bytes) before any is written, and drives the generator in payload.ts.
 *
 * Why 768 KiB of binaryData per ConfigMap: the API server refuses a ConfigMap whose data and
 * binaryData (keys and decoded values) exceed 1 MiB, and etcd's default request limit is 1.5 MiB for the
 * whole stored object. binaryData travels base64-encoded in JSON, and 768 KiB is exactly 1 MiB once
 * encoded, so the request stays near 1 MiB (proxies, webhooks and audit logs see no more than that)
 * while the decoded object keeps 256 KiB of room for keys, labels and managedFields. Zarf uses the
 * same number.
 */
import { AbortError, ExitCode } from '../errors.js';
import { planNodeArchive } from '../bundle/node-archive.js';
import type { BundleImage } from '../bundle/layout.js';
import { digestHex, sha256Hex } from '../oci/digest.js';
import { parseReference } from '../oci/reference.js';
import { formatBytes } from '../progress.js';

export const CONFIGMAP_DATA_BYTES = 768 * 1024;
/** The API server's limit on a ConfigMap's data and binaryData together. */
export const CONFIGMAP_API_LIMIT = 1024 * 1024;
/** Keys per ConfigMap: many tiny blobs would otherwise make one ConfigMap's key list (and index) huge. */
export const MAX_KEYS_PER_CONFIGMAP = 256;
/** Less room than this left in a ConfigMap: start the next one rather than cut a sliver of a blob. */
const MIN_CHUNK = 4096;
export const INDEX_KEY = 'index.json';
export const INDEX_SCHEMA = 'lading.dev/injector-payload/v1';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_PAYLOAD = 'lading.dev/payload';
/** injector | chunks | index: the pod mounts the injector's ConfigMaps executable, the others not. */
export const LABEL_PART = 'lading.dev/payload-part';

export type PayloadPart = 'injector' | 'chunks' | 'index';

export interface PlannedChunk {
  configMap: string;
  key: string;
  /** Where the chunk starts in its blob (or in the injector binary). */
  offset: number;
  size: number;
}

export interface PlannedBlob {
  digest: string;
  size: number;
  mediaType: string;
  /** Served from /manifests/ (a root index or manifest, or a platform manifest). */
  manifest: boolean;
  chunks: PlannedChunk[];
}

export interface PlannedConfigMap {
  name: string;
  part: PayloadPart;
  /** Bytes of values it holds (binaryData, or the index's data). */
  bytes: number;
  keys: number;
}

export interface PayloadRepository {
  name: string;
  tags: Record<string, string>;
}

export interface InjectorFile {
  size: number;
  /** Hex sha256 of the binary. */
  sha256: string;
}

export interface PayloadPlan {
  id: string;
  platform: string;
  injector: InjectorFile & { chunks: PlannedChunk[] };
  blobs: PlannedBlob[];
  repositories: PayloadRepository[];
  /** In the order they are produced; the index is last. */
  configMaps: PlannedConfigMap[];
  /** Bytes of all values together (injector + blobs + index). */
  bytes: number;
}

export interface PlanOptions {
  /** The payload's id (label value, part of every name); default: derived from the content. */
  id?: string;
  /** Value bytes per ConfigMap (tests use small ones). */
  dataBytes?: number;
}

const ID = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

export function configMapName(id: string, part: PayloadPart, n = 0): string {
  if (part === 'index') return `lading-payload-${id}-index`;
  return `lading-payload-${id}-${part === 'injector' ? 'injector-' : ''}${String(n).padStart(4, '0')}`;
}

/** Packs pieces into ConfigMaps in order, cutting a piece where a ConfigMap fills up. */
class Packer {
  readonly configMaps: PlannedConfigMap[] = [];
  #current: PlannedConfigMap | undefined;
  #count = 0;

  constructor(
    readonly id: string,
    readonly part: PayloadPart,
    readonly limit: number,
  ) {}

  add(size: number, key: (n: number) => string): PlannedChunk[] {
    const chunks: PlannedChunk[] = [];
    for (let offset = 0; offset < size; ) {
      let room = this.#current ? this.limit - this.#current.bytes : 0;
      if (!this.#current || this.#current.keys >= MAX_KEYS_PER_CONFIGMAP || (room < MIN_CHUNK && room < size - offset)) {
        this.#current = { name: configMapName(this.id, this.part, this.#count++), part: this.part, bytes: 0, keys: 0 };
        this.configMaps.push(this.#current);
        room = this.limit;
      }
      const piece = Math.min(room, size - offset);
      chunks.push({ configMap: this.#current.name, key: key(chunks.length), offset, size: piece });
      this.#current.bytes += piece;
      this.#current.keys += 1;
      offset += piece;
    }
    return chunks;
  }
}

/** The names an image is served under, short (`demo/web`) and full (`registry/demo/web`), and its tag. */
function servedNames(image: BundleImage): { names: string[]; tag: string | undefined } {
  const ref = parseReference(image.name);
  const full = `${ref.registry}/${ref.repository}`;
  const names = [ref.repository];
  if (full.split('/').every((part) => COMPONENT.test(part))) names.push(full);
  return { names, tag: ref.tag };
}

function repositoriesOf(images: BundleImage[]): PayloadRepository[] {
  const repositories = new Map<string, PayloadRepository>();
  for (const image of images) {
    const { names, tag } = servedNames(image);
    for (const name of names) {
      const repo = repositories.get(name) ?? { name, tags: {} };
      repositories.set(name, repo);
      if (tag === undefined) continue;
      const earlier = repo.tags[tag];
      if (earlier !== undefined && earlier !== image.root.digest) {
        throw new AbortError(`${name}:${tag} would be both ${earlier} and ${image.root.digest} in one injector payload`, {
          exitCode: ExitCode.usage,
          hint: 'Carry one of these images through the injector; the other can follow through the registry.',
        });
      }
      repo.tags[tag] = image.root.digest;
    }
  }
  return [...repositories.values()];
}

/** Plans the payload of `images` for `platform` (e.g. linux/amd64) with the injector binary for it. */
export function planPayload(images: BundleImage[], platform: string, injector: InjectorFile, options: PlanOptions = {}): PayloadPlan {
  const archive = planNodeArchive(images, platform);
  if (archive.images.length === 0) {
    throw new AbortError(`no image for the injector has platform ${platform}`, {
      exitCode: ExitCode.node,
      hint: `Add ${platform} to the bundle's platforms for ${images.map((i) => i.name).join(', ')}.`,
    });
  }
  const manifests = new Set(archive.images.flatMap(({ image, platform: p }) => [image.root.digest, p.manifest.digest]));
  const repositories = repositoriesOf(archive.images.map((i) => i.image));
  const limit = options.dataBytes ?? CONFIGMAP_DATA_BYTES;
  const id = options.id ?? sha256Hex(JSON.stringify([platform, injector.sha256, archive.blobs.map((b) => b.digest), repositories])).slice(0, 12);
  if (!ID.test(id)) throw new Error(`payload id "${id}" is not a lowercase DNS label of at most 32 characters`);

  const injectorPacker = new Packer(id, 'injector', limit);
  const injectorChunks = injectorPacker.add(injector.size, (n) => `injector-${String(n).padStart(2, '0')}`);
  const blobPacker = new Packer(id, 'chunks', limit);
  const blobs = archive.blobs.map((blob) => ({
    digest: blob.digest,
    size: blob.size,
    mediaType: blob.mediaType,
    manifest: manifests.has(blob.digest),
    chunks: blobPacker.add(blob.size, (n) => `${digestHex(blob.digest)}.${n}`),
  }));
  const plan: PayloadPlan = {
    id,
    platform,
    injector: { ...injector, chunks: injectorChunks },
    blobs,
    repositories,
    configMaps: [...injectorPacker.configMaps, ...blobPacker.configMaps],
    bytes: 0,
  };
  // Chunk hashes are not known yet, but have a fixed length: the index's size is exact already.
  const indexBytes = Buffer.byteLength(serializeIndex(plan, () => '0'.repeat(64)));
  if (indexBytes > CONFIGMAP_API_LIMIT - 4096) {
    throw new AbortError(`the injector payload's chunk index would be ${formatBytes(indexBytes)}, more than one ConfigMap holds`, {
      exitCode: ExitCode.usage,
      hint: 'Carry fewer or smaller images through the injector; the rest can follow through the registry.',
    });
  }
  plan.configMaps.push({ name: configMapName(id, 'index'), part: 'index', bytes: indexBytes, keys: 1 });
  plan.bytes = plan.configMaps.reduce((sum, c) => sum + c.bytes, 0);
  return plan;
}

/** The chunk index the injector reads (src/injector/payload.go), with each chunk's sha256 from `hashOf`. */
export function serializeIndex(plan: PayloadPlan, hashOf: (chunk: PlannedChunk) => string): string {
  const chunks = (list: PlannedChunk[]) => list.map((c) => ({ configMap: c.configMap, key: c.key, sha256: hashOf(c), size: c.size }));
  return JSON.stringify({
    schema: INDEX_SCHEMA,
    payload: plan.id,
    platform: plan.platform,
    injector: { sha256: plan.injector.sha256, size: plan.injector.size, chunks: chunks(plan.injector.chunks) },
    repositories: plan.repositories,
    blobs: plan.blobs.map((b) => ({ digest: b.digest, size: b.size, mediaType: b.mediaType, manifest: b.manifest, chunks: chunks(b.chunks) })),
  });
}
