/** What a bundle holds, read from its headers and lading.json only (no blob bytes). */
import { readDescription } from './documents.js';
import { BundleReader } from './reader.js';
import type { BundleMetadata } from './layout.js';

export interface InspectedImage {
  name: string;
  source: string;
  digest: string;
  platforms: Array<{ platform: string; manifest: string; size: number; layers: number }>;
  /** Sum of config and layer sizes over its platforms. */
  size: number;
}

export interface InspectReport {
  bundle: string;
  fileBytes: number;
  name: string;
  version: string;
  createdAt: string;
  toolVersion: string;
  platforms: string[];
  images: InspectedImage[];
  layers: { unique: number; total: number; uniqueBytes: number; totalBytes: number; savedBytes: number };
  /** A delta bundle: its base, and the layers it leaves out for the target to hold. */
  delta?: { base: NonNullable<BundleMetadata['base']>; omittedLayers: number; omittedBytes: number };
}

export function summarizeMetadata(metadata: BundleMetadata): Omit<InspectReport, 'bundle' | 'fileBytes'> {
  const unique = new Map<string, number>();
  let total = 0;
  let totalBytes = 0;
  const images = metadata.images.map((image) => {
    let size = 0;
    const platforms = image.platforms.map((p) => {
      const bytes = p.config.size + p.layers.reduce((sum, l) => sum + l.size, 0);
      size += bytes;
      for (const layer of p.layers) {
        total++;
        totalBytes += layer.size;
        unique.set(layer.digest, layer.size);
      }
      return { platform: p.platform, manifest: p.manifest.digest, size: bytes, layers: p.layers.length };
    });
    return { name: image.name, source: image.source, digest: image.root.digest, platforms, size };
  });
  const uniqueBytes = [...unique.values()].reduce((a, b) => a + b, 0);
  return {
    name: metadata.name,
    version: metadata.version,
    createdAt: metadata.createdAt,
    toolVersion: metadata.tool.version,
    platforms: metadata.platforms,
    images,
    layers: { unique: unique.size, total, uniqueBytes, totalBytes, savedBytes: totalBytes - uniqueBytes },
    ...(metadata.base
      ? { delta: { base: metadata.base, omittedLayers: metadata.omitted?.length ?? 0, omittedBytes: (metadata.omitted ?? []).reduce((sum, o) => sum + o.size, 0) } }
      : {}),
  };
}

export async function inspectBundle(path: string): Promise<InspectReport> {
  const reader = await BundleReader.open(path);
  try {
    const { metadata } = await readDescription(reader);
    return { bundle: path, fileBytes: reader.size, ...summarizeMetadata(metadata) };
  } finally {
    await reader.close();
  }
}
