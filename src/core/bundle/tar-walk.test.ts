import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tarStream from 'tar-stream';
import { AbortError, ExitCode } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { BundleReader } from './reader.js';
import { BundleWriter } from './writer.js';
import { METADATA_SCHEMA, type BundleMetadata } from './layout.js';
import { walkTarHeaders, type TarEntry, type TarSource } from './tar-walk.js';
import { corpus, tarStreamBytes } from '../../../test/support/hostile-tar-corpus.js';
import { end, file, header, pax, tar } from '../../../test/support/hostile-tar.js';
import { memorySource } from '../../../test/fuzz/tar-mutants.js';
import { fuzz } from '../../../test/fuzz/tar-walk.fuzz.js';

const PATH = '/bundles/x.tar';

function walk(bytes: Buffer, source: TarSource = memorySource(bytes), maxEntries?: number): Promise<Map<string, TarEntry>> {
  return walkTarHeaders(PATH, source, bytes.length, maxEntries === undefined ? {} : { maxEntries });
}

function contents(bytes: Buffer, entries: Map<string, TarEntry>): Record<string, string> {
  return Object.fromEntries([...entries].map(([name, e]) => [name, bytes.subarray(e.offset, e.offset + e.size).toString()]));
}

async function assertRefused(bytes: Buffer, culprit: RegExp, maxEntries?: number): Promise<void> {
  await assert.rejects(walk(bytes, undefined, maxEntries), (error: unknown) => {
    assert.ok(error instanceof AbortError, `an AbortError, not ${String(error)}`);
    assert.equal(error.exitCode, ExitCode.bundle);
    assert.ok(error.message.startsWith(`${PATH}: `), `names the file: ${error.message}`);
    assert.doesNotMatch(error.message, /[\u0000-\u001f\u007f-\u009f]/, 'one line, nothing raw from the tar');
    assert.match(error.message, culprit);
    return true;
  });
}

test('corpus: every accepted tar yields exactly the files GNU tar and Go read from it', async (t) => {
  for (const c of corpus().filter((c) => c.files)) {
    await t.test(c.name, async () => {
      const entries = await walk(c.bytes);
      assert.deepEqual(contents(c.bytes, entries), c.files);
      for (const [name, e] of entries) {
        assert.equal(e.name, name);
        assert.equal(e.offset % 512, 0);
      }
    });
  }
});

test('corpus: every refused tar fails with exit code 7 and one line naming the offset and entry', async (t) => {
  for (const c of corpus().filter((c) => c.culprit)) {
    await t.test(c.name, () => assertRefused(c.bytes, c.culprit!));
  }
});

test('exact offsets and sizes: PAX path, PAX size, ./ name, a 10 KiB zero record', async () => {
  const long = `blobs/sha256/${'a'.repeat(64)}/${'b'.repeat(64)}`;
  const bytes = tar(pax({ path: long }), file('short', 'L'), pax({ size: '600' }), header({ name: 'big', size: 0 }), Buffer.alloc(1024, 0x62), file('./c', 'cc'), end(20));
  assert.deepEqual(
    [...(await walk(bytes))],
    [
      [long, { name: long, offset: 1536, size: 1 }],
      ['big', { name: 'big', offset: 3584, size: 600 }],
      ['c', { name: 'c', offset: 5120, size: 2 }],
    ],
  );
});

test('a tar from tar-stream (the writer’s library): the same entries, in order', async () => {
  const files = { 'oci-layout': '{}', [`blobs/sha256/${'c'.repeat(64)}`]: 'x'.repeat(700), [`${'d'.repeat(120)}/long`]: 'pax or prefix', 'index.json': '' };
  const bytes = await tarStreamBytes(files);
  const entries = await walk(bytes);
  assert.deepEqual([...entries.keys()], Object.keys(files));
  assert.deepEqual(contents(bytes, entries), files);
});

test('a bundle from BundleWriter: offsets match an independent reading by tar-stream', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-tar-walk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'b.tar');
  const writer = await BundleWriter.create(path);
  const blobs = [Buffer.alloc(3000, 1), Buffer.from('{"a":1}'), Buffer.alloc(512, 2)];
  for (const blob of blobs) await writer.addBlobBuffer(sha256Digest(blob), blob);
  const metadata = { schema: METADATA_SCHEMA, name: 't', version: '1', createdAt: new Date(0).toISOString(), tool: { name: 'lading', version: 'test' }, platforms: [], images: [] } as BundleMetadata;
  await writer.finish({ schemaVersion: 2, manifests: [] }, metadata);

  const bytes = await readFile(path);
  const expected: Array<[string, number]> = [];
  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    expected.push([h.name, h.size ?? 0]);
    stream.on('end', next).resume();
  });
  await new Promise<void>((resolve, reject) => extract.on('finish', () => resolve()).on('error', reject).end(bytes));
  const reader = await BundleReader.open(path);
  t.after(() => reader.close());
  let offset = 0;
  const want = expected.map(([name, size]) => {
    const entry = { name, offset: offset + 512, size };
    offset += 512 + Math.ceil(size / 512) * 512;
    return [name, entry];
  });
  assert.deepEqual([...reader.entries], want);
  assert.equal(reader.entries.size, 6, 'oci-layout, three blobs, index.json, lading.json');
});

test('BundleReader.open refuses a hostile file the same way', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-tar-walk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'dup.tar');
  await writeFile(path, tar(file('index.json', '{}'), file('./index.json', '[]'), end()));
  await assert.rejects(BundleReader.open(path), (error: AbortError) => error.exitCode === ExitCode.bundle && /"\.\/index\.json" at byte 1024: index\.json appears twice/.test(error.message));
});

test('every entry type but files and directories is refused by name', async () => {
  for (const [type, label] of Object.entries({ '3': 'character device', '4': 'block device', '6': 'FIFO', V: 'GNU volume label', M: 'GNU multi-volume', N: 'GNU old long name', D: 'GNU incremental', X: 'Solaris extended header', A: 'Solaris ACL', E: 'Solaris extended attributes', '\xff': 'unknown type' })) {
    const shown = type === '\xff' ? '\\\\xff' : type;
    await assertRefused(tar(file('dev', '', { type }), end()), new RegExp(`"dev" at byte 0: type "${shown}" \\(${label}`));
  }
});

test('an extended header over 1 MiB is refused before it is read', async () => {
  const bytes = tar(pax({ comment: 'c'.repeat((1 << 20) + 1) }), file('a', 'x'), end());
  await assertRefused(bytes, /"PaxHeader\/file" at byte 0: oversized extended header \(104859\d bytes, at most 1048576\)/);
});

test('more entries than the limit are refused', async () => {
  const bytes = tar(file('a', '1'), file('b', '2'), header({ name: 'd', type: '5' }), file('c', '3'), end());
  assert.equal((await walk(bytes, undefined, 4)).size, 3);
  await assertRefused(bytes, /"c" at byte 2560: more than 3 entries/, 3);
});

test('only headers are read, and the zero tail in bounded chunks', async () => {
  const bytes = tar(file('blob', Buffer.alloc(4 << 20, 9)), end(6000));
  const reads: number[] = [];
  const inner = memorySource(bytes);
  const counting: TarSource = { read: (b, o, l, p) => (reads.push(l), inner.read(b, o, l, p)) };
  assert.equal((await walk(bytes, counting)).get('blob')?.size, 4 << 20);
  assert.ok(Math.max(...reads) <= 1 << 20, 'no read above 1 MiB');
  const read = reads.reduce((a, b) => a + b, 0);
  assert.equal(read, 512 + 6000 * 512, 'one header and the tail, no blob byte');
});

test('fuzz (bounded): mutated corpus tars are read safely or refused with exit code 7', async () => {
  const report = await fuzz({ seconds: Number(process.env.LADING_FUZZ_SECONDS ?? 5), seed: 20_240_601 });
  assert.ok(report.runs > 500, `ran ${report.runs} cases`);
  assert.ok(report.accepted > 0, 'some mutants are still valid tars');
});
