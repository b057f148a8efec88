/**
 * One image of a bundle pushed to a registry as the bundle holds it: every
 * blob of every platform it carries (HEAD first, so a second push sends
 * nothing), the platform manifests by digest, then the root (index or
 * manifest) byte for byte by digest and under its tag, so the digests users
 * pin resolve in the registry too. Blobs stream from the bundle's file.
 */
import { AbortError, ExitCode } from '../errors.js';
import { blobPath, type BundleBlobRef, type BundleImage } from '../bundle/layout.js';
import type { BundleReader } from '../bundle/reader.js';
import type { RegistryPusher } from './push.js';

export interface ImagePushReport {
  uploaded: number;
  present: number;
  bytesSent: number;
  manifestsPut: number;
}

const MAX_MANIFEST_BYTES = 4 << 20;

/** Where a bundle image lives in the registry: repository and tag (undefined for an image pinned only by digest). */
export interface PushTarget {
  repository: string;
  tag: string | undefined;
}

export async function pushBundleImage(
  pusher: RegistryPusher,
  reader: BundleReader,
  image: BundleImage,
  target: PushTarget,
  onBytes: (bytes: number) => void = () => undefined,
  omitted: ReadonlySet<string> = new Set(),
): Promise<ImagePushReport> {
  const report: ImagePushReport = { uploaded: 0, present: 0, bytesSent: 0, manifestsPut: 0 };
  const blobs = new Map<string, BundleBlobRef>();
  for (const p of image.platforms) for (const b of [p.config, ...p.layers]) blobs.set(b.digest, b);
  for (const blob of blobs.values()) {
    const entry = reader.blobEntry(blob.digest);
    if (!entry && omitted.has(blob.digest)) {
      // A delta's layer: the registry must hold it from the base already.
      if (!(await pusher.hasBlob(target.repository, blob))) {
        throw new AbortError(`the registry lacks layer ${blob.digest} of ${image.name}, which this delta bundle leaves out`, {
          exitCode: ExitCode.node,
          hint: 'Push the bundle the delta was made against first (lading inspect names it), or a whole bundle.',
        });
      }
      report.present++;
      continue;
    }
    if (!entry || entry.size !== blob.size) {
      throw new AbortError(`${reader.path}: ${image.name} needs blob ${blob.digest}, which the bundle does not hold whole`, { exitCode: ExitCode.bundle });
    }
    const outcome = await pusher.pushBlob(target.repository, blob, (start) => reader.openEntry(entry, start), (n) => {
      report.bytesSent += n;
      onBytes(n);
    });
    report[outcome === 'present' ? 'present' : 'uploaded']++;
  }
  const put = async (ref: BundleBlobRef, reference: string) => {
    const bytes = await reader.readEntry(blobPath(ref.digest), MAX_MANIFEST_BYTES);
    await pusher.pushManifest(target.repository, reference, bytes, ref.mediaType, ref.digest);
    report.manifestsPut++;
  };
  // Children before the index that lists them: a registry may refuse an index whose manifests it lacks.
  for (const p of image.platforms) {
    if (p.manifest.digest !== image.root.digest && !(await pusher.hasManifest(target.repository, p.manifest.digest, p.manifest.digest))) await put(p.manifest, p.manifest.digest);
  }
  if (!(await pusher.hasManifest(target.repository, image.root.digest, image.root.digest))) await put(image.root, image.root.digest);
  if (target.tag !== undefined && !(await pusher.hasManifest(target.repository, target.tag, image.root.digest))) await put(image.root, target.tag);
  return report;
}
