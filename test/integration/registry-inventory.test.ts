/**
 * What `lading inventory` reads of registry mode's registry, against the
 * real Debian docker-registry: every repository and tag (over pages, Link
 * header followed), each with its digest, and the configs and layers their
 * manifests name, through an index to its platform manifests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { listRegistry } from '../../src/core/inventory/registry-inventory.js';
import { DirectTransport } from '../../src/core/registry/transport.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';

let registry: TestRegistry;
const images: PushedImage[] = [];

before(async () => {
  registry = await startRegistry();
  images.push(await pushImage(registry, { repository: 'inv/one', tag: '1', layers: [{ files: { a: '1\n' } }] }));
  images.push(await pushImage(registry, { repository: 'inv/one', tag: '2', layers: [{ files: { a: '2\n' } }] }));
  images.push(await pushImage(registry, { repository: 'inv/one', tag: '3', layers: [{ files: { a: '3\n' } }] }));
  images.push(await pushImage(registry, { repository: 'inv/multi', tag: '1', platforms: ['linux/amd64', 'linux/arm64'], layers: [{ files: { m: 'x\n' } }] }));
  images.push(await pushImage(registry, { repository: 'inv/three', tag: 'x', layers: [{ files: { t: '3\n' } }] }));
});

after(() => registry?.stop());

test('every repository and tag over pages of two, with digests, and every config and layer through indexes', async () => {
  const transport = new DirectTransport(registry.url);
  const listed = await listRegistry(transport, { pageSize: 2 });
  assert.deepEqual(
    Object.entries(listed.images).sort(),
    images.map((i) => [`${i.repository}:${i.tag}`, i.digest]).sort(),
    'three repositories over two pages, three tags of one over two pages',
  );
  for (const image of images) {
    for (const p of image.platforms) {
      for (const blob of [p.configDigest, ...p.layers]) assert.ok(listed.blobs.includes(blob), `${image.ref} ${p.platform}: ${blob}`);
    }
  }
});
