import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readAhead } from './read-ahead.js';
import type { TarSource } from './tar-walk.js';

/** Bytes in memory as a source that counts the reads reaching it. */
function counted(bytes: Buffer): TarSource & { reads: number } {
  const source = {
    reads: 0,
    async read(buffer: Buffer, offset: number, length: number, position: number) {
      source.reads++;
      const bytesRead = Math.max(0, Math.min(length, bytes.length - position));
      bytes.copy(buffer, offset, position, position + bytesRead);
      return { bytesRead };
    },
  };
  return source;
}

test('small reads come from one window read ahead; every read returns the bytes of the file at its position', async () => {
  const file = randomBytes(10_000);
  const inner = counted(file);
  const source = readAhead(inner, file.length, 4096);
  const read = async (position: number, length: number, offset = 0) => {
    const buffer = Buffer.alloc(length + offset);
    const { bytesRead } = await source.read(buffer, offset, length, position);
    return buffer.subarray(offset, offset + bytesRead);
  };
  for (let at = 0; at + 512 <= 4096; at += 512) assert.deepEqual(await read(at, 512), file.subarray(at, at + 512));
  assert.equal(inner.reads, 1, 'eight headers of one window: one read');
  assert.deepEqual(await read(4000, 512, 3), file.subarray(4000, 4512), 'across the window end: a new window from there');
  assert.equal(inner.reads, 2);
  assert.deepEqual(await read(100, 200), file.subarray(100, 300), 'backwards: read again');
  assert.equal(inner.reads, 3);
  assert.deepEqual(await read(0, 3000), file.subarray(0, 3000), 'a large read passes through');
  assert.equal(inner.reads, 4);
  assert.deepEqual(await read(9900, 512), file.subarray(9900), 'at the end: the bytes there are, as the file would answer');
  assert.deepEqual(await read(10_000, 512), Buffer.alloc(0), 'past the end: nothing');
  const [a, b] = await Promise.all([read(8000, 100), read(5000, 100)]);
  assert.deepEqual([a, b], [file.subarray(8000, 8100), file.subarray(5000, 5100)], 'two reads at once each get their own bytes');
});
