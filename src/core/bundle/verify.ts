/**
 * Proves a bundle whole: every blob is streamed and hashed against its name,
 * every index entry and manifest resolves to blobs that are present with the
 * sizes their descriptors claim, and lading.json agrees with the manifests.
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { DigestMismatchError, VerifyingStream } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';
import { BLOBS_DIR, OCI_LAYOUT_FILE, type BundleMetadata } from './layout.js';
import { BundleReader, type TarEntry } from './reader.js';

export interface VerifyProblem {
  /** The image this is about, when known. */
  image?: string;
  /** The blob digest this is about, when known. */
  blob?: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  bundle: string;
  blobsChecked: number;
  bytesChecked: number;
  images: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  onBytes?: (bytes: number) => void;
  /** Total bytes to hash is known once the headers are read. */
  onStart?: (totalBytes: number) => void;
  signal?: AbortSignal;
}

const sink = () =>
  new Writable({
    highWaterMark: 1 << 20,
    write(_chunk, _enc, callback) {
      callback();
    },
  });

export async function verifyBundle(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const reader = await BundleReader.open(path);
  try {
    return await verifyOpen(reader, options);
  } finally {
    await reader.close();
  }
}

async function verifyOpen(reader: BundleReader, options: VerifyOptions): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const blobs = [...reader.entries.values()].filter((e) => e.name.startsWith(BLOBS_DIR)).sort((a, b) => a.offset - b.offset);
  options.onStart?.(blobs.reduce((sum, e) => sum + e.size, 0));

  // 1. Every blob's bytes match its name, read front to back.
  const broken = new Set<string>();
  let bytesChecked = 0;
  for (const entry of blobs) {
    const digest = `sha256:${entry.name.slice(BLOBS_DIR.length)}`;
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
      problems.push({ blob: entry.name, message: `${entry.name}: not a sha256 blob name` });
      continue;
    }
    const ok = await hashEntry(reader, entry, digest, options);
    bytesChecked += entry.size;
    if (!ok) {
      broken.add(digest);
      problems.push({ blob: digest, message: `blob ${digest}: content does not match its digest` });
    }
  }

  // 2. The layout's own files.
  if (!reader.has(OCI_LAYOUT_FILE)) problems.push({ message: 'oci-layout file is missing' });
  else {
    const layout = await reader.readJson<{ imageLayoutVersion?: string }>(OCI_LAYOUT_FILE);
    if (layout.imageLayoutVersion !== '1.0.0') problems.push({ message: `oci-layout has version ${String(layout.imageLayoutVersion)}` });
  }
  const index = await reader.index();
  const metadata = await reader.metadata();

  const present = (d: { digest: string; size: number }, image: string, what: string): boolean => {
    const entry = reader.blobEntry(d.digest);
    if (!entry) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is missing` });
      return false;
    }
    if (entry.size !== d.size) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is ${entry.size} bytes, expected ${d.size}` });
      return false;
    }
    if (broken.has(d.digest)) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is corrupted` });
      return false;
    }
    return true;
  };

  // 3. index.json entries point at present roots, and each image in lading.json has one.
  for (const descriptor of index.manifests) {
    const name = descriptor.annotations?.['io.containerd.image.name'] ?? descriptor.annotations?.['org.opencontainers.image.ref.name'] ?? descriptor.digest;
    present(descriptor, name, 'root manifest');
  }
  for (const image of metadata.images) {
    const entry = index.manifests.find((d) => d.annotations?.['io.containerd.image.name'] === image.name);
    if (!entry) problems.push({ image: image.name, message: `${image.name}: has no entry in index.json` });
    else if (entry.digest !== image.root.digest) {
      problems.push({ image: image.name, message: `${image.name}: index.json points at ${entry.digest}, lading.json at ${image.root.digest}` });
    }
    if (!present(image.root, image.name, 'root') ) continue;
    await checkImage(reader, image, problems, present);
  }

  return {
    ok: problems.length === 0,
    bundle: reader.path,
    blobsChecked: blobs.length,
    bytesChecked,
    images: metadata.images.length,
    problems,
  };
}

async function checkImage(
  reader: BundleReader,
  image: BundleMetadata['images'][number],
  problems: VerifyProblem[],
  present: (d: { digest: string; size: number }, image: string, what: string) => boolean,
): Promise<void> {
  const rootBytes = await reader.readEntry(`${BLOBS_DIR}${image.root.digest.slice(7)}`);
  if (isIndexMediaType(image.root.mediaType)) {
    const rootIndex = JSON.parse(rootBytes.toString('utf8')) as ImageIndex;
    for (const platform of image.platforms) {
      if (!rootIndex.manifests.some((d: Descriptor) => d.digest === platform.manifest.digest)) {
        problems.push({ image: image.name, message: `${image.name}: ${platform.platform} manifest ${platform.manifest.digest} is not in its index` });
      }
    }
  }
  for (const platform of image.platforms) {
    const label = `${image.name} (${platform.platform})`;
    if (!present(platform.manifest, label, 'manifest')) continue;
    const manifest = JSON.parse((await reader.readEntry(`${BLOBS_DIR}${platform.manifest.digest.slice(7)}`)).toString('utf8')) as ImageManifest;
    present(manifest.config, label, 'config');
    for (const layer of manifest.layers) present(layer, label, 'layer');
    const listed = new Set(platform.layers.map((l) => l.digest));
    if (manifest.layers.length !== platform.layers.length || manifest.layers.some((l) => !listed.has(l.digest))) {
      problems.push({ image: image.name, message: `${label}: lading.json's layer list differs from the manifest` });
    }
  }
}

async function hashEntry(reader: BundleReader, entry: TarEntry, digest: string, options: VerifyOptions): Promise<boolean> {
  try {
    await pipeline(
      reader.openEntry(entry),
      new VerifyingStream({ digest, size: entry.size }, entry.name, options.onBytes),
      sink(),
      options.signal ? { signal: options.signal } : {},
    );
    return true;
  } catch (error) {
    if (error instanceof DigestMismatchError) return false;
    throw error;
  }
}
