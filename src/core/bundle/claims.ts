/**
 * lading.json is a claim about the manifests in the bundle; verify holds it
 * to them. For each image: the root blob is what its media type says, the
 * platforms lading.json names are the ones the root lists (same digest, size,
 * type and platform), each manifest's config and layers are exactly the ones
 * lading.json lists, and each config describes the claimed platform. Only
 * blobs whose bytes matched their digest are read, each under limits.
 */
import { isIndexMediaType } from '../oci/media-types.js';
import { formatPlatform, normalizePlatform, platformMatches, parsePlatform } from '../oci/platform.js';
import { Problems, checkConfig, checkIndex, checkManifest } from '../oci/validate.js';
import type { Descriptor } from '../oci/types.js';
import type { JsonLimits } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';
import { CONFIG_LIMITS, MANIFEST_LIMITS, parseLimited } from './documents.js';
import { blobPath, type BundleBlobRef, type BundleImage } from './layout.js';
import type { BundleReader } from './reader.js';

export interface ClaimProblem {
  image: string;
  blob?: string;
  message: string;
}

/** True when the blob is present, of the claimed size and intact; else says why (once per call). */
export type PresenceCheck = (ref: { digest: string; size: number }, image: string, what: string) => boolean;

const same = (a: Pick<Descriptor, 'digest' | 'size' | 'mediaType'>, b: BundleBlobRef) => a.digest === b.digest && a.size === b.size && a.mediaType === b.mediaType;
const describe = (d: Pick<Descriptor, 'digest' | 'size' | 'mediaType'>) => `${d.digest} (${d.size} bytes, ${printable(String(d.mediaType))})`;

export class ImageClaims {
  readonly problems: ClaimProblem[] = [];

  constructor(
    readonly reader: BundleReader,
    readonly present: PresenceCheck,
  ) {}

  #problem(image: string, message: string, blob?: string): void {
    this.problems.push({ image, message: `${image}: ${message}`, ...(blob ? { blob } : {}) });
  }

  /** A blob's JSON, parsed under limits and checked; undefined (with a problem) when it cannot be used. */
  async #document<T>(
    label: string,
    ref: BundleBlobRef,
    what: string,
    limits: JsonLimits,
    check: (value: unknown, path: string, problems: Problems) => T | undefined,
  ): Promise<T | undefined> {
    if (!this.present(ref, label, what)) return undefined;
    const { value, problem } = parseLimited(await this.reader.readEntry(blobPath(ref.digest), limits.maxBytes), limits);
    if (problem) return this.#problem(label, `${what} ${ref.digest} is ${problem}`, ref.digest), undefined;
    const problems = new Problems();
    const checked = check(value, what, problems);
    if (!checked) this.#problem(label, `${what} ${ref.digest}: ${problems.list.slice(0, 3).join('; ')}`, ref.digest);
    return checked;
  }

  async check(image: BundleImage): Promise<void> {
    const { root } = image;
    if (isIndexMediaType(root.mediaType)) {
      const index = await this.#document(image.name, root, 'root index', MANIFEST_LIMITS, checkIndex);
      if (!index) return;
      if (index.mediaType !== undefined && index.mediaType !== root.mediaType) {
        this.#problem(image.name, `root index declares ${printable(index.mediaType)}, lading.json says ${root.mediaType}`, root.digest);
      }
      for (const platform of image.platforms) {
        const entry = index.manifests.find((d) => d.digest === platform.manifest.digest);
        if (!entry) this.#problem(image.name, `${platform.platform} manifest ${platform.manifest.digest} is not in its index`, root.digest);
        else if (!same(entry, platform.manifest)) this.#problem(image.name, `${platform.platform}: the index lists ${describe(entry)}, lading.json ${describe(platform.manifest)}`, root.digest);
        else if (!entry.platform || formatPlatform(normalizePlatform(entry.platform)) !== platform.platform) {
          this.#problem(image.name, `${platform.platform}: the index says this manifest is for ${entry.platform ? printable(formatPlatform(normalizePlatform(entry.platform))) : 'no platform'}`, root.digest);
        }
      }
    } else {
      const only = image.platforms[0]!;
      if (image.platforms.length !== 1 || !same(root, only.manifest)) {
        this.#problem(image.name, `a single-manifest image must have exactly one platform whose manifest is its root ${root.digest}`, root.digest);
        return;
      }
    }
    for (const platform of image.platforms) await this.#checkPlatform(image, platform);
  }

  async #checkPlatform(image: BundleImage, platform: BundleImage['platforms'][number]): Promise<void> {
    const label = `${image.name} (${platform.platform})`;
    const manifest = await this.#document(label, platform.manifest, 'manifest', MANIFEST_LIMITS, checkManifest);
    if (!manifest) return;
    if (manifest.mediaType !== undefined && manifest.mediaType !== platform.manifest.mediaType) {
      this.#problem(label, `manifest declares ${printable(manifest.mediaType)}, lading.json says ${platform.manifest.mediaType}`, platform.manifest.digest);
    }
    if (!same(manifest.config, platform.config)) {
      this.#problem(label, `the manifest's config is ${describe(manifest.config)}, lading.json says ${describe(platform.config)}`, platform.manifest.digest);
    }
    const layersAgree = manifest.layers.length === platform.layers.length && manifest.layers.every((l, i) => same(l, platform.layers[i]!));
    if (!layersAgree) this.#problem(label, `lading.json's layer list differs from the manifest's`, platform.manifest.digest);
    for (const layer of manifest.layers) this.present(layer, label, 'layer');
    const config = await this.#document(label, manifest.config, 'config', CONFIG_LIMITS, checkConfig);
    if (!config) return;
    const claimed = parsePlatform(platform.platform);
    const described = { os: config.os ?? '', architecture: config.architecture ?? '', variant: config.variant };
    if (!config.os || !config.architecture || !platformMatches(claimed, described)) {
      this.#problem(label, `its config describes ${printable(`${described.os || '?'}/${described.architecture || '?'}${described.variant ? `/${described.variant}` : ''}`)}`, manifest.config.digest);
    }
  }
}
