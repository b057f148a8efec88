// Images: configs, manifests and indexes over built layers.

import { DEFAULT_CREATED, DEFAULT_ENV, fixtureCacheDir, parsePlatform, sha256 } from './helpers.js';
import { buildLayer, resolveLayer } from './layers.js';
import {
  MediaTypes,
  type BlobRef,
  type BuildOptions,
  type BuiltImage,
  type BuiltPlatformImage,
  type Compression,
  type ImageFormat,
  type ImageSpec,
  type LayerSpec,
} from './types.js';

function layerMediaType(format: ImageFormat, compression: Compression): string {
  if (format === 'docker') return compression === 'gzip' ? MediaTypes.dockerLayerGzip : MediaTypes.dockerLayer;
  return compression === 'gzip' ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer;
}

function descriptor(b: BlobRef): BlobRef {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** Builds an image's blobs, configs and manifests (no registry involved). Deterministic. */
export async function buildImage(spec: ImageSpec, options: BuildOptions = {}): Promise<BuiltImage> {
  const cacheDir = options.cache === undefined ? fixtureCacheDir() : options.cache || undefined;
  const format = spec.format ?? 'oci';
  const compression = spec.compression ?? 'gzip';
  const platforms = spec.platforms ?? ['linux/amd64'];
  if (platforms.length === 0) throw new Error(`${spec.repository}:${spec.tag}: no platforms`);
  if (new Set(platforms).size !== platforms.length) throw new Error(`${spec.repository}:${spec.tag}: duplicate platforms`);
  const created = spec.created ?? DEFAULT_CREATED;
  const annotations = format === 'oci' && spec.annotations && Object.keys(spec.annotations).length > 0 ? spec.annotations : undefined;

  const builtPlatforms: BuiltPlatformImage[] = [];
  const layerDigests: string[] = [];
  for (const platform of platforms) {
    const parsed = parsePlatform(platform);
    const specs: LayerSpec[] = [...spec.layers, ...(spec.platformLayers?.(platform) ?? [])];
    if (spec.platformFile ?? true) specs.push({ files: { 'etc/platform': `${platform}\n` } });
    if (specs.length === 0) throw new Error(`${spec.repository}:${spec.tag} (${platform}): no layers`);
    const layers: BuiltPlatformImage['layers'] = [];
    for (const l of specs) {
      const built = await buildLayer(resolveLayer(l, compression), cacheDir);
      layers.push({ ...built, mediaType: layerMediaType(format, built.compression) });
      if (!layerDigests.includes(built.digest)) layerDigests.push(built.digest);
    }
    const imageConfig = spec.config ?? { Env: DEFAULT_ENV };
    const configJson = {
      created,
      architecture: parsed.architecture,
      ...(parsed.variant !== undefined ? { variant: parsed.variant } : {}),
      os: parsed.os,
      config: imageConfig,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      // No repository/tag in here: the same content under another name has the same digests.
      history: layers.map((_, i) => ({ created, created_by: `lading fixture layer ${i}` })),
    };
    const configData = Buffer.from(JSON.stringify(configJson));
    const config = {
      mediaType: format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
      digest: sha256(configData),
      size: configData.length,
      data: configData,
    };
    const manifestMediaType = format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
    const manifestJson = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: descriptor(config),
      layers: layers.map(descriptor),
      ...(annotations ? { annotations } : {}),
    };
    const manifestData = Buffer.from(JSON.stringify(manifestJson));
    const entry: BuiltPlatformImage = {
      platform,
      os: parsed.os,
      architecture: parsed.architecture,
      manifest: { mediaType: manifestMediaType, digest: sha256(manifestData), size: manifestData.length, data: manifestData },
      config,
      layers,
    };
    if (parsed.variant !== undefined) entry.variant = parsed.variant;
    builtPlatforms.push(entry);
  }

  const useIndex = platforms.length > 1 || spec.index === 'always';
  let top: { mediaType: string; data: Buffer };
  if (useIndex) {
    const mediaType = format === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
    const indexJson = {
      schemaVersion: 2,
      mediaType,
      manifests: builtPlatforms.map((p) => ({
        ...descriptor(p.manifest),
        platform: { architecture: p.architecture, os: p.os, ...(p.variant !== undefined ? { variant: p.variant } : {}) },
      })),
      ...(annotations ? { annotations } : {}),
    };
    top = { mediaType, data: Buffer.from(JSON.stringify(indexJson)) };
  } else {
    const only = builtPlatforms[0]!;
    top = { mediaType: only.manifest.mediaType, data: only.manifest.data };
  }
  return {
    repository: spec.repository,
    tag: spec.tag,
    format,
    mediaType: top.mediaType,
    digest: sha256(top.data),
    size: top.data.length,
    data: top.data,
    platforms: builtPlatforms,
    layerDigests,
  };
}
