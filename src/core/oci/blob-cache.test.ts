import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { BlobCache } from './blob-cache.js';

const content = randomBytes(3 * (1 << 20) + 12345);
const descriptor = { digest: `sha256:${createHash('sha256').update(content).digest('hex')}`, size: content.length };

/** A body that yields the content in chunks with a pause between them; optionally fails once after `failAfter` bytes. */
function body(options: { failAfter?: number } = {}): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (options.failAfter !== undefined && sent >= options.failAfter) {
        this.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
        return;
      }
      const next = content.subarray(sent, sent + 256 * 1024);
      sent += next.length;
      setTimeout(() => this.push(next.length ? next : null), 2);
    },
  });
}

async function tempCache(t: { after: (fn: () => Promise<void>) => void }): Promise<BlobCache> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-cache-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return new BlobCache(dir);
}

test('a follower sees every byte of a download in progress, and only a verified one', async (t) => {
  const cache = await tempCache(t);
  let counted = 0;
  const download = cache.ensure(descriptor, 'blob', async () => body(), (n) => (counted += n));
  await cache.whenAvailable(descriptor);
  const follower = cache.follow(descriptor.digest);
  assert.ok(follower, 'a download is running');
  const [outcome, followed] = await Promise.all([download, collect(follower)]);
  assert.equal(outcome, 'downloaded');
  assert.ok(followed.equals(content));
  assert.equal(counted, content.length);
  assert.ok((await readFile(cache.path(descriptor.digest))).equals(content));
  assert.equal(cache.follow(descriptor.digest), undefined, 'nothing to follow once done');
  assert.equal(await cache.ensure(descriptor, 'blob', async () => body(), () => undefined), 'cached');
});

test('a retried download does not count bytes twice and the follower carries on in the new file', async (t) => {
  const cache = await tempCache(t);
  let counted = 0;
  let attempts = 0;
  const download = cache.ensure(
    descriptor,
    'blob',
    async () => body(attempts++ === 0 ? { failAfter: 1 << 20 } : {}),
    (n) => (counted += n),
  );
  await cache.whenAvailable(descriptor);
  const followed = collect(cache.follow(descriptor.digest)!);
  await download;
  assert.ok((await followed).equals(content));
  assert.equal(attempts, 2);
  assert.equal(counted, content.length);
  assert.deepEqual((await readdir(join(cache.dir, 'sha256'))).filter((f) => f.includes('.part-')), [], 'no partial file left');
});

test('content that does not match its digest never enters the cache, and the follower fails', async (t) => {
  const cache = await tempCache(t);
  const wrong = { digest: `sha256:${'0'.repeat(64)}`, size: content.length };
  const download = cache.ensure(wrong, 'bad blob', async () => body(), () => undefined);
  await cache.whenAvailable(wrong);
  const followed = collect(cache.follow(wrong.digest)!);
  await assert.rejects(download, /bad blob: content does not match its descriptor/);
  await assert.rejects(followed, /does not match/);
  assert.equal(await cache.has(wrong), false);
  assert.deepEqual(await readdir(join(cache.dir, 'sha256')), []);
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}


test('a later run trusts a file its verification was recorded for, and hashes one that changed since (even with its mtime put back)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-cache-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(await new BlobCache(dir).ensure(descriptor, 'blob', async () => body(), () => undefined), 'downloaded');
  const path = new BlobCache(dir).path(descriptor.digest);
  assert.deepEqual(JSON.parse(await readFile(`${path}.verified`, 'utf8')).digest, descriptor.digest, 'recorded beside the blob');

  // Recorded and unchanged: trusted, not fetched again.
  assert.equal(await new BlobCache(dir).ensure(descriptor, 'blob', async () => assert.fail('no download'), () => undefined), 'cached');
  // Trusted without a read: a file whose bytes differ but whose record is rewritten to match it passes (only a hash would tell).
  const original = await readFile(path);
  const forged = Buffer.from(content);
  forged[7] = forged[7]! ^ 0xff;
  await writeFile(path, forged);
  const now = await stat(path);
  const record = JSON.parse(await readFile(`${path}.verified`, 'utf8'));
  await writeFile(`${path}.verified`, JSON.stringify({ ...record, size: now.size, ino: now.ino, dev: now.dev, mtimeMs: now.mtimeMs, ctimeMs: now.ctimeMs }));
  assert.equal(await new BlobCache(dir).ensure(descriptor, 'blob', async () => assert.fail('no download'), () => undefined), 'cached');
  await writeFile(path, original);

  // Same size, other bytes, mtime put back: the ctime tells, the file is hashed, evicted and fetched again.
  const before = await stat(path);
  const altered = Buffer.from(content);
  altered[1000] = altered[1000]! ^ 0xff;
  await writeFile(path, altered);
  await utimes(path, before.atime, before.mtime);
  let fetched = 0;
  assert.equal(await new BlobCache(dir).ensure(descriptor, 'blob', async () => (fetched++, body()), () => undefined), 'downloaded');
  assert.equal(fetched, 1);
  assert.ok((await readFile(path)).equals(content));
});
