import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { BlobCache } from './blob-cache.js';
import { parsePlatform } from './platform.js';
import { parseReference } from './reference.js';
import type { FetchedManifest, RegistryClient } from './registry-client.js';
import { resolveImage } from './resolve.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const config = Buffer.from('{"os":"linux","architecture":"amd64"}');
const goodLayer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('layer'), size: 5 };
const manifest = (patch: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
  layers: [goodLayer],
  ...patch,
});

/** A client that serves one root document and counts blob requests. */
function stubClient(root: unknown, blobs: Map<string, Buffer> = new Map([[sha(config), config]])) {
  const calls = { blobs: 0 };
  const client = {
    async getManifest(): Promise<FetchedManifest> {
      const bytes = Buffer.from(JSON.stringify(root));
      const mediaType = (root as { mediaType?: string }).mediaType ?? '';
      return { bytes, mediaType, digest: sha(bytes), content: root };
    },
    async openBlob(_r: string, _p: string, digest: string): Promise<Readable> {
      calls.blobs++;
      return Readable.from([blobs.get(digest) ?? Buffer.alloc(0)]);
    },
  } as unknown as RegistryClient;
  return { client, calls };
}

async function resolveWith(t: { after: (fn: () => Promise<void>) => void }, root: unknown, blobs?: Map<string, Buffer>) {
  const dir = await mkdtemp(join(tmpdir(), 'lading-resolve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { client, calls } = stubClient(root, blobs);
  const ref = parseReference('registry.lab/app:1');
  const result = resolveImage({ client, cache: new BlobCache(dir) }, 'registry.lab/app:1', ref, [parsePlatform('linux/amd64')]);
  return { result, calls };
}

const isRegistryError = (pattern: RegExp) => (error: unknown) =>
  error instanceof RegistryError && error.exitCode === 4 && pattern.test(error.message) && !error.message.includes('\n');

test('a layer without a valid size is refused before any blob request', async (t) => {
  for (const size of [undefined, -1, 'NaN', 1.5, 2 ** 60, null]) {
    const { result, calls } = await resolveWith(t, manifest({ layers: [{ ...goodLayer, size }] }));
    await assert.rejects(result, isRegistryError(/^registry\.lab\/app:1: the registry sent an invalid manifest: manifest\.layers\[0\]\.size: /), String(size));
    assert.equal(calls.blobs, 0);
  }
});

test('traversal and uppercase digests are refused before any blob request', async (t) => {
  for (const digest of ['sha256:../../../tmp/x', goodLayer.digest.toUpperCase().replace('SHA256', 'sha256')]) {
    const { result, calls } = await resolveWith(t, manifest({ layers: [{ ...goodLayer, digest }] }));
    await assert.rejects(result, isRegistryError(/manifest\.layers\[0\]\.digest: ".*" is not sha256: followed by 64 lowercase hex digits/));
    assert.equal(calls.blobs, 0);
  }
});

test('an index entry without a size, and a foreign layer, are refused', async (t) => {
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha('m'), platform: { os: 'linux', architecture: 'amd64' } }] };
  await assert.rejects((await resolveWith(t, index)).result, isRegistryError(/invalid index: index\.manifests\[0\]\.size: undefined is not a size in bytes/));
  const foreign = manifest({ layers: [{ ...goodLayer, urls: ['https://example.com/l'] }] });
  await assert.rejects((await resolveWith(t, foreign)).result, isRegistryError(/manifest\.layers\[0\]: a foreign layer/));
});

test('a config that is not JSON or not a config is a registry error, not a crash', async (t) => {
  for (const [bytes, pattern] of [
    [Buffer.from('not json'), /config sha256:[a-f0-9]{64}: the config is not acceptable JSON \(not valid JSON\)/],
    [Buffer.from('{"os":{"evil":1}}'), /the registry sent an invalid config: config\.os: expected a short string/],
    [Buffer.from('['.repeat(100)), /the config is not acceptable JSON \(nested deeper than 64 levels\)/],
  ] as const) {
    const m = manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(bytes), size: bytes.length } });
    await assert.rejects((await resolveWith(t, m, new Map([[sha(bytes), bytes]]))).result, isRegistryError(pattern));
  }
});

test('a config larger than 8 MiB is refused without fetching it', async (t) => {
  const m = manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('big'), size: 9 << 20 } });
  const { result, calls } = await resolveWith(t, m);
  await assert.rejects(result, isRegistryError(/9437184 bytes, more than lading reads for a config \(8 MiB\)/));
  assert.equal(calls.blobs, 0);
});

test('a valid single-platform manifest resolves', async (t) => {
  const resolved = await (await resolveWith(t, manifest())).result;
  assert.equal(resolved.platforms.length, 1);
  assert.deepEqual(resolved.platforms[0]!.layers, [goodLayer]);
});
