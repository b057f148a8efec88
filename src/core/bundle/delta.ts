/**
 * Delta bundles: `create --since OLD` leaves out the layers OLD holds, since a
 * site that installed OLD has them. The base is named exactly by the sha256 of
 * its lading.json (which lists every digest in it). Only its description is
 * read: its layers are known from there, and a base that is itself a delta
 * counts the layers it left out too (the site holds those from its own base).
 */
import { sha256Digest } from '../oci/digest.js';
import { readDescription } from './documents.js';
import { METADATA_FILE, type BundleBase } from './layout.js';
import { BundleReader } from './reader.js';

export interface DeltaBaseInfo {
  ref: BundleBase;
  layers: ReadonlySet<string>;
}

export async function readDeltaBase(path: string): Promise<DeltaBaseInfo> {
  const reader = await BundleReader.open(path);
  try {
    const { metadata } = await readDescription(reader);
    const bytes = await reader.readEntry(METADATA_FILE);
    const layers = new Set<string>();
    for (const image of metadata.images) for (const p of image.platforms) for (const l of p.layers) layers.add(l.digest);
    return { ref: { name: metadata.name, version: metadata.version, metadataDigest: sha256Digest(bytes) }, layers };
  } finally {
    await reader.close();
  }
}
