import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { PARTS_SCHEMA, PartedFile, parseSplitSize, partsListPath, readPartsList } from './parts.js';

test('--split sizes: units, whole tar blocks, at least 1 MiB', () => {
  assert.equal(parseSplitSize('4GiB'), 4 * 2 ** 30);
  assert.equal(parseSplitSize('700MB'), 700e6 - (700e6 % 512));
  assert.equal(parseSplitSize('1MiB'), 1 << 20);
  for (const bad of ['100', '0', 'lots', '-1GiB', '1.5XB']) assert.throws(() => parseSplitSize(bad), /expected a size of at least 1MiB/);
  assert.equal(partsListPath('/m/site.lading.tar'), '/m/site.lading.parts');
  assert.equal(partsListPath('/m/bundle'), '/m/bundle.parts');
});

test('parts read as one file: positioned reads and streams across boundaries; lists that point elsewhere are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-parts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'b.tar.001'), 'abcd');
  await writeFile(join(dir, 'b.tar.002'), 'efgh');
  await writeFile(join(dir, 'b.tar.003'), 'ij');
  const sha = '0'.repeat(64);
  const list = { schema: PARTS_SCHEMA, size: 10, sha256: sha, parts: ['001', '002', '003'].map((n, i) => ({ file: `b.tar.${n}`, size: [4, 4, 2][i]!, sha256: sha })) };
  await writeFile(join(dir, 'b.parts'), JSON.stringify(list));
  const file = await PartedFile.open(join(dir, 'b.parts'), await readPartsList(join(dir, 'b.parts')));
  try {
    const buffer = Buffer.alloc(6);
    assert.equal((await file.read(buffer, 0, 6, 2)).bytesRead, 6);
    assert.equal(buffer.toString(), 'cdefgh');
    assert.equal(await text(file.stream(3, 8)), 'defghi');
    const [first, second, third] = file.parts.map((p) => p.handle.fd);
    assert.deepEqual(
      file.segments(3, 6),
      [
        { fd: first, position: 3, length: 1 },
        { fd: second, position: 0, length: 4 },
        { fd: third, position: 0, length: 1 },
      ],
      'bytes 3..8 as runs of each part',
    );
    assert.deepEqual(file.segments(4, 4), [{ fd: second, position: 0, length: 4 }], 'exactly one part');
    assert.deepEqual(await file.damagedParts(3, 8), ['b.tar.001', 'b.tar.002', 'b.tar.003'], 'the test list carries made-up sha256s');
  } finally {
    await file.close();
  }
  await writeFile(join(dir, 'evil.parts'), JSON.stringify({ ...list, parts: [{ file: '../etc/passwd.001', size: 10, sha256: sha }] }));
  await assert.rejects(readPartsList(join(dir, 'evil.parts')), /plain file names beside it/);
});
