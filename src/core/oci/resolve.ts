/**
 * Resolves an image reference to what the bundle must hold for the wanted
 * platforms: the root manifest or index exactly as the registry serves it (so
 * its digest, which users pin, is kept), and per platform the manifest, config
 * and layers.
 */
import { readFile } from 'node:fs/promises';
import { AbortError, ExitCode, RegistryError } from '../errors.js';
import { JsonLimitError, parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';
import type { BlobCache } from './blob-cache.js';
import { DigestMismatchError } from './digest.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';
import { displayPlatform, formatPlatform, normalizePlatform, pickPlatform, platformMatches, type Platform } from './platform.js';
import { formatReference, type ImageReference } from './reference.js';
import type { FetchedManifest, RegistryClient } from './registry-client.js';
import type { Descriptor, ImageConfig } from './types.js';
import { Problems, checkConfig, checkIndex, checkManifest } from './validate.js';

/** A config is read into memory to learn the platform of a single-platform image. */
const MAX_CONFIG_BYTES = 8 << 20;
const CONFIG_JSON_LIMITS = { maxBytes: MAX_CONFIG_BYTES, maxValues: 500_000, maxDepth: 64 };

export interface ResolvedPlatformImage {
  platform: Platform;
  manifest: { digest: string; size: number; mediaType: string; bytes: Buffer };
  config: Descriptor;
  layers: Descriptor[];
}

export interface ResolvedImage {
  /** The reference as written in the spec. */
  source: string;
  ref: ImageReference;
  /** Full normalised reference, the name the image gets in the bundle and on nodes. */
  name: string;
  /** What the tag (or the pinned digest) points at in the source registry. */
  root: FetchedManifest;
  isIndex: boolean;
  platforms: ResolvedPlatformImage[];
}

/** Every blob (config or layer) the image needs, without duplicates. */
export function imageBlobs(image: ResolvedImage): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  for (const p of image.platforms) {
    for (const d of [p.config, ...p.layers]) if (!seen.has(d.digest)) seen.set(d.digest, d);
  }
  return [...seen.values()];
}

/**
 * Runs one of validate.ts's checks on what a registry sent; anything wrong is
 * a registry error naming the image and the first problems found.
 */
function validated<T>(check: (value: unknown, path: string, problems: Problems) => T | undefined, value: unknown, subject: string, what: string): T {
  const problems = new Problems();
  const result = check(value, what, problems);
  if (result !== undefined && problems.ok) return result;
  const shown = problems.list.slice(0, 3).join('; ');
  const more = problems.list.length > 3 ? ` (and ${problems.list.length - 3} more)` : '';
  throw new RegistryError(`${subject}: the registry sent an invalid ${what}: ${shown || 'unusable content'}${more}`, {
    hint: 'The registry serves content lading cannot carry safely; check the image with skopeo inspect --raw.',
  });
}

export interface ResolveContext {
  client: RegistryClient;
  cache: BlobCache;
  signal?: AbortSignal;
  /** Told of blob bytes fetched while resolving (configs of single-platform images). */
  onBytes?: (bytes: number) => void;
}

export async function resolveImage(
  context: ResolveContext,
  source: string,
  ref: ImageReference,
  wanted: Platform[],
): Promise<ResolvedImage> {
  const name = formatReference(ref);
  const { client } = context;
  const root = await client.getManifest(ref.registry, ref.repository, ref.digest ?? ref.tag!);
  if (ref.digest && root.digest !== ref.digest) {
    throw new AbortError(`${name}: the registry returned ${root.digest} for a pinned digest`, { exitCode: ExitCode.integrity });
  }

  if (isIndexMediaType(root.mediaType)) {
    const index = validated(checkIndex, root.content, name, 'index');
    const offered = index.manifests.filter((d) => d.platform && isManifestMediaType(d.mediaType));
    const platforms: ResolvedPlatformImage[] = [];
    const missing: string[] = [];
    for (const want of wanted) {
      const descriptor = pickPlatform(want, offered);
      if (!descriptor) {
        missing.push(displayPlatform(want));
        continue;
      }
      if (platforms.some((p) => p.manifest.digest === descriptor.digest)) continue;
      platforms.push(await resolvePlatform(context, ref, name, descriptor, normalizePlatform(descriptor.platform!)));
    }
    if (missing.length > 0) {
      const available = offered.map((d) => printable(displayPlatform(d.platform!))).filter((p) => !p.startsWith('unknown'));
      throw new AbortError(`${name}: not available for ${missing.join(', ')} (the image offers ${available.join(', ') || 'no platforms'})`, {
        exitCode: ExitCode.registry,
        hint: `List only available platforms for this image in the spec (platforms: [...] on the image entry).`,
      });
    }
    return { source, ref, name, root, isIndex: true, platforms };
  }

  if (isManifestMediaType(root.mediaType)) {
    const manifest = validated(checkManifest, root.content, name, 'manifest');
    const config = await fetchConfig(context, ref, name, manifest.config);
    const platform = normalizePlatform({
      os: config.os ?? 'linux',
      architecture: config.architecture ?? 'amd64',
      variant: config.variant,
    });
    if (!wanted.some((w) => platformMatches(w, platform))) {
      throw new AbortError(
        `${name}: is a single-platform image for ${printable(displayPlatform(platform))}, the spec asks for ${wanted.map(displayPlatform).join(', ')}`,
        { exitCode: ExitCode.registry, hint: `Set platforms: [${printable(displayPlatform(platform))}] on this image entry, or use a multi-platform tag.` },
      );
    }
    return {
      source,
      ref,
      name,
      root,
      isIndex: false,
      platforms: [
        {
          platform,
          manifest: { digest: root.digest, size: root.bytes.length, mediaType: root.mediaType, bytes: root.bytes },
          config: manifest.config,
          layers: manifest.layers,
        },
      ],
    };
  }

  throw new AbortError(`${name}: unsupported manifest media type "${printable(root.mediaType.slice(0, 200)) || 'none'}"`, {
    exitCode: ExitCode.registry,
    hint: 'lading carries OCI and Docker schema 2 images and indexes; schema 1 images must be re-pushed.',
  });
}

async function resolvePlatform(
  context: ResolveContext,
  ref: ImageReference,
  name: string,
  descriptor: Descriptor,
  platform: Platform,
): Promise<ResolvedPlatformImage> {
  const fetched = await context.client.getManifest(ref.registry, ref.repository, descriptor.digest);
  if (fetched.bytes.length !== descriptor.size) {
    throw new AbortError(`${name} (${formatPlatform(platform)}): manifest ${descriptor.digest} is ${fetched.bytes.length} bytes, the index says ${descriptor.size}`, {
      exitCode: ExitCode.integrity,
    });
  }
  if (!isManifestMediaType(fetched.mediaType)) {
    throw new AbortError(`${name} (${formatPlatform(platform)}): nested indexes are not supported (${printable(fetched.mediaType.slice(0, 200))})`, {
      exitCode: ExitCode.registry,
    });
  }
  const manifest = validated(checkManifest, fetched.content, `${name} (${formatPlatform(platform)})`, 'manifest');
  return {
    platform,
    manifest: { digest: fetched.digest, size: fetched.bytes.length, mediaType: fetched.mediaType, bytes: fetched.bytes },
    config: manifest.config,
    layers: manifest.layers,
  };
}

/** Single-platform images carry their platform only in the config: fetch it (into the cache) to learn it. */
async function fetchConfig(context: ResolveContext, ref: ImageReference, name: string, config: Descriptor): Promise<ImageConfig> {
  const { cache, client } = context;
  const subject = `${name} config ${config.digest}`;
  if (config.size > MAX_CONFIG_BYTES) throw new RegistryError(`${subject}: ${config.size} bytes, more than lading reads for a config (8 MiB)`);
  await cache
    .ensure(config, subject, () => client.openBlob(ref.registry, ref.repository, config.digest, config.size), context.onBytes ?? (() => undefined), context.signal)
    .catch((error: unknown) => {
      if (!(error instanceof DigestMismatchError)) throw error;
      throw new AbortError(error.message, { exitCode: ExitCode.integrity, hint: `The registry served a config for ${name} that does not match its digest.`, cause: error });
    });
  let content: unknown;
  try {
    content = parseBoundedJson(await readFile(cache.path(config.digest)), CONFIG_JSON_LIMITS);
  } catch (error) {
    if (!(error instanceof SyntaxError || error instanceof JsonLimitError)) throw error;
    throw new RegistryError(`${subject}: the config is not acceptable JSON (${error instanceof JsonLimitError ? error.reason : 'not valid JSON'})`);
  }
  return validated(checkConfig, content, subject, 'config');
}
