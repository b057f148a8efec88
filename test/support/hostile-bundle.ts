/**
 * Bundles that lie: a small valid bundle (an index image with two platforms
 * and a single-manifest image, all in memory) whose lading.json, index.json or
 * blobs a test rewrites before the tar is written. Written with tar-stream
 * directly, so a document can hold any bytes, not only what lading would write.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { sha256Digest } from '../../src/core/oci/digest.js';

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface BundleParts {
  blobs: Map<string, Buffer>;
  index: Json;
  metadata: Json;
  /** Replaces the serialised lading.json / index.json when set. */
  rawMetadata?: Buffer;
  rawIndex?: Buffer;
  /** Extra entries appended before the documents. */
  extra?: Array<{ name: string; data: Buffer }>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function platformImage(blobs: Map<string, Buffer>, os: string, architecture: string, variant: string | undefined, layerSeed: string) {
  const layer = Buffer.alloc(1536, layerSeed);
  const config = json({ architecture, os, ...(variant ? { variant } : {}), rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } });
  const layerRef = { mediaType: OCI_LAYER, digest: sha256Digest(layer), size: layer.length };
  const configRef = { mediaType: OCI_CONFIG, digest: sha256Digest(config), size: config.length };
  const manifest = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configRef, layers: [layerRef] });
  const manifestRef = { mediaType: OCI_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
  for (const bytes of [layer, config, manifest]) blobs.set(sha256Digest(bytes), bytes);
  const platform = variant ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`;
  return { platform, manifestRef, entry: { platform, manifest: manifestRef, config: configRef, layers: [layerRef] } };
}

/** A valid two-image bundle: example.com/app/web:1.0 (index, amd64 + arm64) and example.com/app/tool:2.0 (one manifest). */
export function goodBundle(): BundleParts {
  const blobs = new Map<string, Buffer>();
  const amd = platformImage(blobs, 'linux', 'amd64', undefined, 'a');
  const arm = platformImage(blobs, 'linux', 'arm64', 'v8', 'b');
  const webIndex = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd.manifestRef, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm.manifestRef, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  });
  blobs.set(sha256Digest(webIndex), webIndex);
  const tool = platformImage(blobs, 'linux', 'amd64', undefined, 'c');
  const web = { source: 'example.com/app/web:1.0', name: 'example.com/app/web:1.0', root: { mediaType: OCI_INDEX, digest: sha256Digest(webIndex), size: webIndex.length }, platforms: [amd.entry, arm.entry] };
  const toolImage = { source: 'example.com/app/tool:2.0', name: 'example.com/app/tool:2.0', root: tool.manifestRef, platforms: [tool.entry] };
  const entry = (image: typeof web, platform?: Json) => ({
    mediaType: image.root.mediaType,
    digest: image.root.digest,
    size: image.root.size,
    ...(platform ? { platform } : {}),
    annotations: { 'org.opencontainers.image.ref.name': image.name, 'io.containerd.image.name': image.name, 'dev.lading.source': image.source },
  });
  return {
    blobs,
    index: { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(web), entry(toolImage, { os: 'linux', architecture: 'amd64' })] },
    metadata: {
      schema: 'lading.dev/bundle/v1alpha1',
      name: 'hostile',
      version: '1.0.0',
      createdAt: '2026-01-01T00:00:00.000Z',
      tool: { name: 'lading', version: 'test' },
      platforms: ['linux/amd64', 'linux/arm64/v8'],
      images: [web, toolImage],
      mirrors: [{ registry: 'docker.io', endpoints: ['https://mirror.example.com:5000'], skipVerify: false }],
    },
  };
}

/** Stores a blob and returns its descriptor fields. */
export function putBlob(parts: BundleParts, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256Digest(bytes);
  parts.blobs.set(digest, bytes);
  return { digest, size: bytes.length };
}

export async function writeBundle(path: string, parts: BundleParts): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(path));
  const add = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, size: data.length, mtime: new Date(0) }, data, (e) => (e ? reject(e) : resolve())));
  await add('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
  for (const [digest, bytes] of parts.blobs) await add(`blobs/sha256/${digest.slice(7)}`, bytes);
  for (const e of parts.extra ?? []) await add(e.name, e.data);
  await add('index.json', parts.rawIndex ?? json(parts.index));
  await add('lading.json', parts.rawMetadata ?? json(parts.metadata));
  pack.finalize();
  await done;
}
