/**
 * An OCI layout tar for one node, streamed straight out of the bundle: only the
 * images it asks for and only the blobs of the node's platform, each blob once,
 * verified while it flows. Root indexes are kept byte for byte (so digests that
 * users pin still resolve) even though they list platforms left out here.
 * The stream is what `ctr images import -` or `podman load` read on the node.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { AbortError, ExitCode } from '../errors.js';
import { VerifyingStream } from '../oci/digest.js';
import { normalizePlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  ANNOTATION_SOURCE,
  OCI_INDEX_FILE,
  OCI_LAYOUT_FILE,
  blobPath,
  layoutMediaType,
  type BundleImage,
  type BundleBlobRef,
} from './layout.js';
import type { BundleReader } from './reader.js';

export interface NodeArchivePlan {
  platform: string;
  images: Array<{ image: BundleImage; platform: BundleImage['platforms'][number] }>;
  /** Blobs in the order they are written; each once. */
  blobs: BundleBlobRef[];
  /** Bytes of blob content the archive carries (what a progress bar counts). */
  bytes: number;
  /** A delta's layers the archive leaves out: the node's runtime must already hold them. */
  fromTarget: BundleBlobRef[];
  /** Per image (as in `images`): how many of `blobs` the archive has written once every blob of that image is in it. */
  completeAfter: number[];
}

function parse(platform: string): Platform {
  const [os, architecture, variant] = platform.split('/');
  return normalizePlatform({ os: os!, architecture: architecture!, variant });
}

/**
 * Which images of the bundle a node of `platform` can run, and the blobs that
 * takes. `omitted`: a delta's layers, which the archive leaves out (listed in
 * `fromTarget`, for the check that the node holds them).
 */
export function planNodeArchive(images: BundleImage[], platform: string, omitted: ReadonlySet<string> = new Set()): NodeArchivePlan {
  const wanted = parse(platform);
  const chosen: NodeArchivePlan['images'] = [];
  const blobs = new Map<string, BundleBlobRef>();
  const fromTarget = new Map<string, BundleBlobRef>();
  const completeAfter: number[] = [];
  for (const image of images) {
    const match = image.platforms.find((p) => platformMatches(wanted, parse(p.platform)));
    if (!match) continue;
    chosen.push({ image, platform: match });
    for (const blob of [image.root, match.manifest, match.config, ...match.layers]) {
      const into = omitted.has(blob.digest) ? fromTarget : blobs;
      if (!into.has(blob.digest)) into.set(blob.digest, blob);
    }
    completeAfter.push(blobs.size);
  }
  const list = [...blobs.values()];
  return { platform, images: chosen, blobs: list, bytes: list.reduce((sum, b) => sum + b.size, 0), fromTarget: [...fromTarget.values()], completeAfter };
}

/** `repo@sha256:...` for a tagged name: the name a pull by digest asks the runtime for. */
export function digestName(image: BundleImage): string | undefined {
  if (image.name.includes('@')) return undefined;
  const repository = image.name.replace(/:[^:/]+$/, '');
  return `${repository}@${image.root.digest}`;
}

/**
 * The index.json of a node archive: one entry per image, named as on the node,
 * and one more named `repo@digest`: containerd's CRI looks a digest-pinned
 * image up by that name (its own pulls create both), so a pod that pins the
 * source digest starts without a pull.
 */
export function nodeIndex(plan: NodeArchivePlan, options: { digestNames?: boolean } = {}): ImageIndex {
  const entry = (image: BundleImage, name: string): Descriptor => ({
    mediaType: layoutMediaType(image.root.mediaType),
    digest: image.root.digest,
    size: image.root.size,
    annotations: {
      [ANNOTATION_REF_NAME]: name,
      [ANNOTATION_CONTAINERD_NAME]: name,
      [ANNOTATION_SOURCE]: image.source,
    },
  });
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: plan.images.flatMap(({ image }) => {
      const pinned = options.digestNames === false ? undefined : digestName(image);
      return pinned ? [entry(image, image.name), entry(image, pinned)] : [entry(image, image.name)];
    }),
  };
}

const EPOCH = new Date(0);

/**
 * Streams the archive. Bytes are read from the bundle only as fast as the
 * consumer takes them (tar-stream honours backpressure), so memory stays
 * bounded whatever the image sizes. `onBytes` counts blob bytes as they go out.
 */
export interface NodeArchiveOptions {
  onBytes?: (n: number) => void;
  /**
   * Also name each image `repo@digest` (default true): containerd's CRI needs that record; podman and
   * skopeo read one image per archive and would see a second one.
   */
  digestNames?: boolean;
  /**
   * For an archive unpacked on the node as it arrives (CRI-O's store, see loadScript): index.json goes
   * first, and an empty file `lading-ready-<n>` follows the last blob of the n-th image. tar names an
   * entry as it reaches it, so when it names the marker every blob of that image is on disk, and the
   * image can be taken from the directory while the rest still streams.
   */
  readyMarkers?: boolean;
}

/** The marker entry that follows the n-th image's last blob (NodeArchiveOptions.readyMarkers). */
export const READY_MARKER = 'lading-ready-';

export function streamNodeArchive(reader: BundleReader, plan: NodeArchivePlan, options: NodeArchiveOptions = {}): Readable {
  const { onBytes } = options;
  const pack = tar.pack();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const write = async (): Promise<void> => {
    const add = async (name: string, content: Buffer) => {
      const entry = pack.entry({ name, size: content.length, mode: 0o644, mtime: EPOCH });
      const source = new PassThrough();
      source.end(content);
      await pipeline(source, entry);
    };
    const index = Buffer.from(JSON.stringify(nodeIndex(plan, { digestNames: options.digestNames ?? true })));
    await add(OCI_LAYOUT_FILE, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    if (options.readyMarkers) await add(OCI_INDEX_FILE, index);
    const markReady = async (written: number) => {
      if (!options.readyMarkers) return;
      for (const [n, after] of plan.completeAfter.entries()) if (after === written) await add(`${READY_MARKER}${n}`, Buffer.alloc(0));
    };
    await markReady(0);
    for (const [n, blob] of plan.blobs.entries()) {
      const located = reader.blobEntry(blob.digest);
      if (!located || located.size !== blob.size) {
        throw new AbortError(`${reader.path} lacks blob ${blob.digest}`, { exitCode: ExitCode.bundle, hint: 'Copy the bundle again, or create it again.' });
      }
      const entry = pack.entry({ name: blobPath(blob.digest), size: blob.size, mode: 0o644, mtime: EPOCH });
      await pipeline(reader.openEntry(located), new VerifyingStream(blob, `bundle blob ${blob.digest}`, onBytes), entry);
      await markReady(n + 1);
    }
    if (!options.readyMarkers) await add(OCI_INDEX_FILE, index);
    pack.finalize();
  };
  write().catch((error: unknown) => {
    pack.destroy(error as Error);
    out.destroy(error as Error);
  });
  pipeline(pack, out).catch((error: unknown) => out.destroy(error as Error));
  return out;
}
