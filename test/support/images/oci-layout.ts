// Writing built images into a local OCI image layout directory.

import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { MediaTypes, type BuiltImage } from './types.js';

// ---------------------------------------------------------------------------
// Local OCI layout (no registry): handy as a reference bundle in tests.

/**
 * Writes images into an OCI image layout directory (oci-layout, index.json,
 * blobs/sha256/…), each top-level entry annotated with
 * org.opencontainers.image.ref.name = the tag (or `refName(image)`).
 */
export async function writeOciLayout(
  dir: string,
  images: BuiltImage[],
  refName: (image: BuiltImage) => string = (image) => image.tag,
): Promise<void> {
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const put = async (digest: string, source: { data?: Buffer; file?: string }) => {
    const dest = path.join(blobsDir, digest.slice(7));
    if (existsSync(dest)) return;
    if (source.data) await writeFile(dest, source.data);
    else await pipeline(createReadStream(source.file!), createWriteStream(dest));
  };
  for (const image of images) {
    for (const p of image.platforms) {
      for (const l of p.layers) await put(l.digest, l);
      await put(p.config.digest, p.config);
      await put(p.manifest.digest, p.manifest);
    }
    await put(image.digest, image);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.size,
      annotations: { 'org.opencontainers.image.ref.name': refName(image) },
    })),
  };
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}
