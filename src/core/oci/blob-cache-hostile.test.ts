import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { BlobCache } from './blob-cache.js';

const content = randomBytes(300_000);
const descriptor = { digest: `sha256:${createHash('sha256').update(content).digest('hex')}`, size: content.length };

async function tempCache(t: { after: (fn: () => Promise<void>) => void }): Promise<BlobCache> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-cache-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return new BlobCache(join(dir, 'cache'));
}

test('path() refuses digests that are not sha256 with 64 lowercase hex digits', async (t) => {
  const cache = await tempCache(t);
  for (const digest of ['sha256:../../../tmp/x', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`, `sha256:${'a'.repeat(63)}`, `sha256:${'a'.repeat(64)}/`, '']) {
    assert.throws(() => cache.path(digest), (error: unknown) => error instanceof RegistryError && error.exitCode === 4 && /not a sha256 digest/.test(error.message), digest);
    await assert.rejects(cache.has({ digest, size: 1 }), RegistryError, 'has() does not swallow it');
  }
  assert.equal(cache.path(descriptor.digest), join(cache.dir, 'sha256', descriptor.digest.slice(7)));
});

test('ensure() refuses a bad digest or size before opening anything', async (t) => {
  const cache = await tempCache(t);
  let opened = 0;
  const open = async () => (opened++, Readable.from([content]));
  for (const bad of [{ digest: 'sha256:../../x', size: 1 }, { ...descriptor, size: Number.NaN }, { ...descriptor, size: -1 }, { ...descriptor, size: undefined as unknown as number }]) {
    await assert.rejects(cache.ensure(bad, 'img: blob', open, () => undefined), /img: blob: refused a descriptor without a sha256 digest and a valid size/);
  }
  assert.equal(opened, 0);
});

test('a cached file with the right size and wrong bytes is evicted and downloaded again, counted once', async (t) => {
  const cache = await tempCache(t);
  await mkdir(join(cache.dir, 'sha256'), { recursive: true });
  const corrupt = Buffer.from(content);
  corrupt[1234]! ^= 0xff;
  await writeFile(cache.path(descriptor.digest), corrupt);
  assert.equal(await cache.has(descriptor), true, 'same size: looks cached');
  let opened = 0;
  let counted = 0;
  const outcome = await cache.ensure(descriptor, 'blob', async () => (opened++, Readable.from([content])), (n) => (counted += n));
  assert.equal(outcome, 'downloaded');
  assert.equal(opened, 1);
  assert.equal(counted, content.length);
  assert.ok((await readFile(cache.path(descriptor.digest))).equals(content));
  assert.equal(cache.verifiedThisRun(descriptor.digest), true);
  assert.equal(await cache.ensure(descriptor, 'blob', async () => assert.fail('not again'), () => undefined), 'cached');
});

test('an intact file from an earlier run is hashed once and trusted as cached', async (t) => {
  const cache = await tempCache(t);
  await mkdir(join(cache.dir, 'sha256'), { recursive: true });
  await writeFile(cache.path(descriptor.digest), content);
  assert.equal(cache.verifiedThisRun(descriptor.digest), false);
  assert.equal(await cache.ensure(descriptor, 'blob', async () => assert.fail('no download'), () => assert.fail('no bytes')), 'cached');
  assert.equal(cache.verifiedThisRun(descriptor.digest), true);
});

test('the first use of a cache removes partial files of dead or day-old downloads, and nothing else', async (t) => {
  const cache = await tempCache(t);
  const sha = join(cache.dir, 'sha256');
  await mkdir(sha, { recursive: true });
  const dead = 2 ** 30; // above any pid_max: no such process
  const names = {
    dead: `${'a'.repeat(64)}.part-${dead}-0011aabb`,
    old: `${'b'.repeat(64)}.part-1-0011aabb`,
    live: `${'c'.repeat(64)}.part-1-0011aabb`,
    other: `${'d'.repeat(64)}.part-${dead}-zz`,
  };
  for (const name of Object.values(names)) await writeFile(join(sha, name), 'x');
  const old = new Date(Date.now() - 25 * 3600_000);
  await utimes(join(sha, names.old), old, old);
  await cache.ensure(descriptor, 'blob', async () => Readable.from([content]), () => undefined);
  assert.deepEqual((await readdir(sha)).sort(), [descriptor.digest.slice(7), `${descriptor.digest.slice(7)}.verified`, names.live, names.other].sort());
});
