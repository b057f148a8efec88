/**
 * One `lading create` run, in steps a task list can show: resolve every image,
 * pull each image's blobs into the cache (bounded concurrency, verified while
 * streaming), and write the bundle in spec order while later images are still
 * downloading. Nothing reaches the output path unless every step succeeded.
 */
import { createReadStream } from 'node:fs';
import { AbortError, ExitCode } from '../errors.js';
import { ProgressHub, ProgressMeter } from '../progress.js';
import { BlobCache } from '../oci/blob-cache.js';
import { DigestMismatchError } from '../oci/digest.js';
import { formatPlatform, displayPlatform, parsePlatform } from '../oci/platform.js';
import { summarizeMetadata } from '../bundle/inspect.js';
import type { RegistryClient } from '../oci/registry-client.js';
import { imageBlobs, resolveImage, type ResolvedImage } from '../oci/resolve.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import type { BundleSpec, SpecImage } from '../spec/load.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  ANNOTATION_SOURCE,
  METADATA_SCHEMA,
  layoutMediaType,
  type BundleBase,
  type BundleImage,
  type BundleMetadata,
} from '../bundle/layout.js';
import type { CreateSummary } from '../bundle/summary.js';
import { BundleWriter } from '../bundle/writer.js';
import { Semaphore } from '../util/semaphore.js';
import { LADING_VERSION } from '../version.js';

/** What a delta is made against: the base bundle's identity and the layers it holds. */
export interface DeltaBase {
  ref: BundleBase;
  layers: ReadonlySet<string>;
}

export interface CreateJobOptions {
  spec: BundleSpec;
  output: string;
  /** Write the bundle as parts of at most this many bytes (NAME.tar.001, ... and NAME.parts). */
  splitBytes?: number;
  /** A delta: layers the base holds are left out (configs and manifests always go in). */
  base?: DeltaBase;
  client: RegistryClient;
  cache: BlobCache;
  progress: ProgressHub;
  /** Blob downloads at once, across all images. */
  concurrency?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Whoever waits on it handles the rejection; until then, do not report it as unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export interface ImageJob {
  spec: SpecImage;
  /** Set once resolved. */
  resolved?: ResolvedImage;
  /** Config and layer bytes this image needs (shared blobs counted for each image). */
  totalBytes: number;
  /** Settles when all of its blobs are in the cache. */
  pulled: Deferred;
  /** Bytes of its blobs in the cache (shared blobs count for each image using them). */
  meter?: ProgressMeter;
}

export class CreateJob {
  readonly images: ImageJob[];
  readonly #options: CreateJobOptions;
  readonly #blobs: Semaphore;
  #writer: BundleWriter | undefined;
  readonly #downloads = new Map<string, Promise<'cached' | 'downloaded'>>();
  readonly #blobListeners = new Map<string, ImageJob[]>();
  #downloadedBytes = 0;
  readonly #startedAt = performance.now();

  constructor(options: CreateJobOptions) {
    this.#options = options;
    this.#blobs = new Semaphore(options.concurrency ?? 4);
    this.images = options.spec.images.map((spec) => ({ spec, totalBytes: 0, pulled: deferred() }));
  }

  get spec(): BundleSpec {
    return this.#options.spec;
  }

  /** Step 1 for one image: manifests and platform selection. */
  async resolve(image: ImageJob): Promise<ResolvedImage> {
    const { client, cache, signal } = this.#options;
    const context = { client, cache, onBytes: (n: number) => (this.#downloadedBytes += n), ...(signal ? { signal } : {}) };
    const resolved = await resolveImage(context, image.spec.source, image.spec.ref, image.spec.platforms);
    image.resolved = resolved;
    image.totalBytes = this.#carried(resolved).reduce((sum, d) => sum + d.size, 0);
    return resolved;
  }

  /**
   * Opens the temporary bundle file and starts every download; call once
   * every image is resolved. Downloads run largest first, at most
   * `concurrency` at once, each blob once however many images share it.
   */
  async open(): Promise<void> {
    this.#writer = await BundleWriter.create(this.#options.output, this.#options.splitBytes ? { splitBytes: this.#options.splitBytes } : {});
    const { client, cache, signal } = this.#options;
    const blobs = new Map<string, { blob: Descriptor; image: ResolvedImage }>();
    for (const image of this.images) {
      const resolved = this.#require(image);
      for (const blob of this.#carried(resolved)) {
        if (!blobs.has(blob.digest)) blobs.set(blob.digest, { blob, image: resolved });
        const listeners = this.#blobListeners.get(blob.digest) ?? [];
        listeners.push(image);
        this.#blobListeners.set(blob.digest, listeners);
      }
      image.meter = new ProgressMeter(image.totalBytes);
    }
    const order = [...blobs.values()].sort((a, b) => b.blob.size - a.blob.size);
    for (const { blob, image } of order) {
      const download = this.#blobs.run(async () => {
        const subject = `${image.name}: blob ${blob.digest}`;
        try {
          return await cache.ensure(
            blob,
            subject,
            () => client.openBlob(image.ref.registry, image.ref.repository, blob.digest, blob.size),
            (n) => {
              this.#downloadedBytes += n;
              for (const user of this.#blobListeners.get(blob.digest) ?? []) this.#advance(user, n);
            },
            signal,
          );
        } catch (error) {
          if (error instanceof DigestMismatchError) {
            throw new AbortError(error.message, {
              exitCode: ExitCode.integrity,
              hint: `The registry served content for ${image.name} that does not match its digest; nothing was written.`,
              cause: error,
            });
          }
          throw error;
        }
      });
      // Awaited by the images' pull steps; a run stopped early must not leave it unhandled.
      download.catch(() => undefined);
      this.#downloads.set(blob.digest, download);
    }
  }

  #advance(image: ImageJob, bytes: number): void {
    if (!image.meter) return;
    image.meter.advance(bytes);
    this.#options.progress.publish({ key: image.spec.source, progress: image.meter.snapshot() });
  }

  /** Step 2 for one image: waits until every blob it needs is in the cache, verified. */
  async pull(image: ImageJob): Promise<void> {
    const resolved = this.#require(image);
    try {
      this.#advance(image, 0);
      await Promise.all(
        this.#carried(resolved).map(async (blob) => {
          const outcome = await this.#downloads.get(blob.digest);
          if (outcome === 'cached') this.#advance(image, blob.size);
        }),
      );
      image.meter!.complete();
      this.#options.progress.publish({ key: image.spec.source, progress: image.meter!.snapshot() });
      image.pulled.resolve();
    } catch (error) {
      image.pulled.reject(error);
      throw error;
    }
  }

  /**
   * Step 3: writes each image's blobs into the bundle in spec order as soon
   * as that image is pulled, then index.json and lading.json, then renames.
   */
  async write(onBytes?: (bytes: number) => void): Promise<CreateSummary> {
    const writer = this.#writer;
    if (!writer) throw new Error('CreateJob.write before open');
    const { cache } = this.#options;
    for (const image of this.images) {
      // Not `await image.pulled`: a blob still downloading is copied while it arrives.
      const pulled = image.pulled.promise.then(() => undefined);
      const resolved = this.#require(image);
      await writer.addBlobBuffer(resolved.root.digest, resolved.root.bytes);
      for (const platform of resolved.platforms) {
        await writer.addBlobBuffer(platform.manifest.digest, platform.manifest.bytes);
        for (const blob of [platform.config, ...platform.layers]) {
          if (writer.hasBlob(blob.digest) || this.#leftOut(blob, platform.config)) continue;
          await Promise.race([cache.whenAvailable(blob), pulled]);
          const subject = `${resolved.name}: blob ${blob.digest}`;
          const live = cache.follow(blob.digest);
          if (live) {
            await writer.addBlob(blob, () => live, subject, { verify: false, ...(onBytes ? { onBytes } : {}) });
          } else {
            // Settles once the blob is in the cache and verified this run (a stale cache file is hashed, or evicted and fetched again).
            await (this.#downloads.get(blob.digest) ?? pulled);
            const path = cache.path(blob.digest);
            await writer.addBlob(blob, () => createReadStream(path, { highWaterMark: 256 << 10 }), subject, {
              verify: !cache.verifiedThisRun(blob.digest),
              ...(onBytes ? { onBytes } : {}),
            });
          }
        }
      }
    }
    const { index, metadata } = this.#describe();
    const written = await writer.finish(index, metadata);
    this.#writer = undefined;
    return this.#summary(metadata, written);
  }

  /** A layer the delta's base holds: neither pulled nor written. */
  #leftOut(blob: Descriptor, config: Descriptor): boolean {
    return blob !== config && blob.digest !== config.digest && (this.#options.base?.layers.has(blob.digest) ?? false);
  }

  /** The blobs of an image this bundle carries: all of them, or for a delta all but the base's layers. */
  #carried(image: ResolvedImage): Descriptor[] {
    const configs = new Set(image.platforms.map((p) => p.config.digest));
    return imageBlobs(image).filter((b) => configs.has(b.digest) || !this.#options.base?.layers.has(b.digest));
  }

  /** Total bytes step 3 streams into the bundle (unique configs and layers). */
  uniqueBlobBytes(): number {
    const unique = new Map<string, number>();
    for (const image of this.images) {
      if (!image.resolved) continue;
      for (const blob of this.#carried(image.resolved)) unique.set(blob.digest, blob.size);
    }
    return [...unique.values()].reduce((a, b) => a + b, 0);
  }

  /** Removes the temporary bundle file; the output path is never touched. */
  async abort(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    for (const image of this.images) image.pulled.reject(new AbortError('create was stopped'));
    await writer?.abort();
  }

  #require(image: ImageJob): ResolvedImage {
    if (!image.resolved) throw new Error(`${image.spec.source} was not resolved`);
    return image.resolved;
  }

  #describe(): { index: ImageIndex; metadata: BundleMetadata } {
    const { spec } = this.#options;
    const images: BundleImage[] = this.images.map((image) => {
      const r = this.#require(image);
      return {
        source: r.source,
        name: r.name,
        root: { digest: r.root.digest, size: r.root.bytes.length, mediaType: r.root.mediaType },
        platforms: r.platforms.map((p) => ({
          platform: formatPlatform(p.platform),
          manifest: { digest: p.manifest.digest, size: p.manifest.size, mediaType: p.manifest.mediaType },
          config: { digest: p.config.digest, size: p.config.size, mediaType: p.config.mediaType },
          layers: p.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
        })),
      };
    });
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: this.images.map((image) => {
        const r = this.#require(image);
        const single = r.isIndex ? undefined : r.platforms[0]?.platform;
        return {
          mediaType: layoutMediaType(r.root.mediaType),
          digest: r.root.digest,
          size: r.root.bytes.length,
          ...(single ? { platform: { os: single.os, architecture: single.architecture, ...(single.variant ? { variant: single.variant } : {}) } } : {}),
          annotations: {
            [ANNOTATION_REF_NAME]: r.name,
            [ANNOTATION_CONTAINERD_NAME]: r.name,
            [ANNOTATION_SOURCE]: r.source,
          },
        };
      }),
    };
    const platforms = [...new Set(images.flatMap((i) => i.platforms.map((p) => p.platform)))].sort();
    const now = this.#options.now?.() ?? sourceDateOrNow();
    const metadata: BundleMetadata = {
      schema: METADATA_SCHEMA,
      name: spec.name,
      version: spec.version,
      createdAt: now.toISOString(),
      tool: { name: 'lading', version: LADING_VERSION },
      platforms,
      images,
      ...(spec.mirrors.length ? { mirrors: spec.mirrors } : {}),
      ...(spec.registry ? { registry: spec.registry } : {}),
      ...this.#delta(images),
    };
    return { index, metadata };
  }

  #delta(images: BundleImage[]): Pick<BundleMetadata, 'base' | 'omitted'> {
    const base = this.#options.base;
    if (!base) return {};
    const omitted = new Map<string, number>();
    for (const image of images) for (const p of image.platforms) for (const l of p.layers) if (base.layers.has(l.digest) && l.digest !== p.config.digest) omitted.set(l.digest, l.size);
    return { base: base.ref, omitted: [...omitted].map(([digest, size]) => ({ digest, size })) };
  }

  #summary(metadata: BundleMetadata, written: { path: string; size: number; sha256: string }): CreateSummary {
    const { layers, images } = summarizeMetadata(metadata);
    return {
      bundlePath: written.path,
      bundleBytes: written.size,
      bundleSha256: written.sha256,
      images: metadata.images.length,
      platforms: metadata.platforms.map((p) => displayPlatform(parsePlatform(p))),
      uniqueLayers: layers.unique,
      totalLayerBytes: layers.totalBytes,
      uniqueLayerBytes: layers.uniqueBytes,
      savedBytes: layers.savedBytes,
      downloadedBytes: this.#downloadedBytes,
      durationMs: Math.round(performance.now() - this.#startedAt),
      imageList: images.map((image) => ({
        reference: image.name,
        digest: image.digest,
        platforms: image.platforms.map((p) => displayPlatform(parsePlatform(p.platform))),
        bytes: image.size,
      })),
    };
  }
}

/**
 * The output name when -o is not given: one file name in the working
 * directory whatever the spec's name and version hold (anything but letters,
 * digits and . _ + ~ - becomes "_", as do "..", a leading dot or dash).
 */
export function defaultBundleFileName(name: string, version: string): string {
  const safe = (text: string): string =>
    text
      .slice(0, 100)
      .replace(/[^A-Za-z0-9._+~-]/g, '_')
      .replace(/\.{2,}/g, '_')
      .replace(/^[.-]/, '_') || '_';
  return `${safe(name)}-${safe(version)}.lading.tar`;
}

/** SOURCE_DATE_EPOCH makes two creates of the same content byte-identical. */
function sourceDateOrNow(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  return new Date();
}

