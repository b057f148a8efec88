import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from '../oci/digest.js';
import { end, file, tar } from '../../../test/support/hostile-tar.js';
import { hashBlobs, splitInLanes, type BlobToHash } from './blob-hasher.js';
import { PARTS_SCHEMA } from './parts.js';
import { BundleReader } from './reader.js';

const MiB = 1 << 20;

function blob(offset: number, size: number, name = `b${offset}`): BlobToHash {
  return { entry: { name, offset, size }, digest: `sha256:${name}` } as BlobToHash;
}

test('lanes: about equal bytes, largest first, each lane in file order', () => {
  const blobs = [blob(0, 10), blob(10, 512), blob(522, 256), blob(778, 8), blob(786, 8), blob(794, 300)];
  const [a, b] = splitInLanes(blobs);
  assert.deepEqual(
    a.map((x) => x.entry.size),
    [10, 512, 8, 8],
  );
  assert.deepEqual(
    b.map((x) => x.entry.size),
    [256, 300],
  );
  assert.deepEqual([...a, ...b].map((x) => x.entry.name).sort(), blobs.map((x) => x.entry.name).sort(), 'every blob once');
  assert.deepEqual(splitInLanes([blob(0, 5)]), [[blob(0, 5)], []]);
});

/** Three blobs (40 MiB, 30 MiB, 1 KiB: two lanes on a machine of two cores) as a tar on disk. */
async function threeBlobTar(dir: string): Promise<{ path: string; blobs: Buffer[] }> {
  const blobs = [randomBytes(40 * MiB), randomBytes(30 * MiB), randomBytes(1024)];
  const path = join(dir, 'b.tar');
  await writeFile(path, tar(...blobs.map((b) => file(`blobs/sha256/${sha256Digest(b).slice(7)}`, b)), end()));
  return { path, blobs };
}

async function hashAll(path: string, signal?: AbortSignal): Promise<{ matches: boolean[]; bytes: number }> {
  const reader = await BundleReader.open(path);
  try {
    const toHash = [...reader.entries.values()].map((entry) => ({ entry, digest: `sha256:${entry.name.slice('blobs/sha256/'.length)}` }));
    let bytes = 0;
    const results = await hashBlobs(reader, toHash, { onBytes: (n) => (bytes += n), ...(signal ? { signal } : {}) });
    return { matches: toHash.map((b) => results.get(b)!), bytes };
  } finally {
    await reader.close();
  }
}

async function flipByte(path: string, at: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte.writeUInt8(byte.readUInt8(0) ^ 0xff, 0);
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

test('blobs hashed in two lanes (one in a worker thread): each blob judged on its own bytes, progress counts them all', async (t) => {
  assert.ok(availableParallelism() >= 2, 'this test proves the second lane, which needs two cores');
  const dir = await mkdtemp(join(tmpdir(), 'lading-hasher-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { path, blobs } = await threeBlobTar(dir);
  const total = blobs.reduce((sum, b) => sum + b.length, 0);
  assert.deepEqual(await hashAll(path), { matches: [true, true, true], bytes: total });

  // The 30 MiB blob is the worker's (the 40 MiB one is this thread's): a byte changed in each in turn.
  const reader = await BundleReader.open(path);
  const [big, middle] = [...reader.entries.values()];
  await reader.close();
  await flipByte(path, middle!.offset + middle!.size - 1);
  assert.deepEqual((await hashAll(path)).matches, [true, false, true], 'the worker lane finds its changed byte');
  await flipByte(path, middle!.offset + middle!.size - 1);
  await flipByte(path, big!.offset);
  assert.deepEqual((await hashAll(path)).matches, [false, true, true], 'this lane finds its changed byte');

  // The same bytes as a split bundle, cut inside both big blobs: the worker reads across parts too.
  await flipByte(path, big!.offset);
  const whole = await open(path, 'r');
  const cuts = [0, 20 * MiB, middle!.offset + 10 * MiB, (await whole.stat()).size];
  const parts = [];
  for (let i = 0; i < 3; i++) {
    const bytes = Buffer.alloc(cuts[i + 1]! - cuts[i]!);
    await whole.read(bytes, 0, bytes.length, cuts[i]!);
    const name = `s.lading.tar.00${i + 1}`;
    await writeFile(join(dir, name), bytes);
    parts.push({ file: name, size: bytes.length, sha256: sha256Digest(bytes).slice(7) });
  }
  await whole.close();
  const size = cuts[3]!;
  await writeFile(join(dir, 's.lading.parts'), JSON.stringify({ schema: PARTS_SCHEMA, size, sha256: '0'.repeat(64), parts }));
  assert.deepEqual(await hashAll(join(dir, 's.lading.parts')), { matches: [true, true, true], bytes: total });
  await flipByte(join(dir, 's.lading.tar.003'), 0);
  assert.deepEqual((await hashAll(join(dir, 's.lading.parts'))).matches, [true, false, true], 'a byte of the worker blob in its second part');
});

test('an abort stops both lanes and rejects with its reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-hasher-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { path } = await threeBlobTar(dir);
  const abort = new AbortController();
  const reason = new Error('operator pressed Ctrl-C');
  const reader = await BundleReader.open(path);
  try {
    const toHash = [...reader.entries.values()].map((entry) => ({ entry, digest: 'sha256:x' }));
    let seen = 0;
    const hashing = hashBlobs(reader, toHash, { signal: abort.signal, onBytes: (n) => (seen += n) > 8 * MiB && abort.abort(reason) });
    await assert.rejects(hashing, (error) => error === reason);
  } finally {
    await reader.close();
  }
});
