import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { blobDeadlineMs, declaredLength, readBounded, readErrorDetail, readPrefix, withDeadline } from './http-limits.js';

/** An endless body of 64 KiB chunks that counts what it produced. */
function endless(): Readable & { produced: number } {
  const chunk = Buffer.alloc(64 << 10, 0x61);
  const stream = new Readable({
    read() {
      stream.produced += chunk.length;
      this.push(chunk);
    },
  }) as Readable & { produced: number };
  stream.produced = 0;
  return stream;
}

const tooLarge = (n: number | undefined) => new RegistryError(`too large: ${n ?? 'streamed'}`);

test('readBounded refuses a declared length over the limit without reading', async () => {
  const body = endless();
  await assert.rejects(readBounded(body, '5242880', 4 << 20, tooLarge), /too large: 5242880/);
  assert.ok(body.destroyed);
  assert.equal(body.produced, 0);
});

test('readBounded stops an endless body just past the limit and destroys it', async () => {
  const body = endless();
  await assert.rejects(readBounded(body, undefined, 1 << 20, tooLarge), /too large: streamed/);
  assert.ok(body.destroyed);
  assert.ok(body.produced < 2 << 20, `read ${body.produced} bytes for a 1 MiB limit`);
});

test('readBounded returns a body within the limit', async () => {
  assert.equal((await readBounded(Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]), '7', 100, tooLarge)).toString(), '{"a":1}');
});

test('declaredLength takes plain numbers only', () => {
  assert.equal(declaredLength('42'), 42);
  assert.equal(declaredLength(['7', '8']), 7);
  for (const bad of [undefined, '', '-1', '1e9', '0x10', '12abc', '9'.repeat(20)]) assert.equal(declaredLength(bad), undefined, String(bad));
});

test('readPrefix keeps the first bytes of an endless error body and stops reading', async () => {
  const body = endless();
  const prefix = await readPrefix(body, 100_000);
  assert.equal(prefix.length, 100_000);
  assert.ok(body.destroyed);
  assert.ok(body.produced < 1 << 20);
});

test('readErrorDetail: codes and messages, printable and short, from JSON or text', async () => {
  const json = Readable.from([Buffer.from(JSON.stringify({ errors: [{ code: 'DENIED\u001b[2J', message: 'no\nway' }, { code: 42 }] }))]);
  assert.deepEqual(await readErrorDetail(json), { codes: ['DENIED\\e[2J'], text: 'DENIED\\e[2J no\\nway; ' });
  const text = await readErrorDetail(Readable.from([Buffer.from('\u001b]0;title\u0007 upstream   down\n')]));
  assert.deepEqual(text, { codes: [], text: '\\e]0;title\\x07 upstream down' });
  const huge = await readErrorDetail(endless());
  assert.equal(huge.text.length, 200);
  const weird = await readErrorDetail(Readable.from([Buffer.from('{"errors":"nope"}')]));
  assert.deepEqual(weird, { codes: [], text: '' });
});

test('blobDeadlineMs: a grace plus the size at the minimum rate', () => {
  assert.equal(blobDeadlineMs(0), 10_000);
  assert.equal(blobDeadlineMs(64 << 20), 10_000 + 1024_000);
  assert.equal(blobDeadlineMs(1000, { graceMs: 50, minBytesPerSecond: 10_000 }), 150);
});

test('withDeadline cuts a trickling body and destroys its source', async () => {
  let timer: NodeJS.Timeout | undefined;
  const source = new Readable({
    read() {
      timer = setTimeout(() => this.push(Buffer.from('x')), 20);
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  const guarded = withDeadline(source, 150, (received, elapsedMs) => new RegistryError(`cut after ${received} bytes in ${Math.round(elapsedMs)} ms`));
  const started = performance.now();
  await assert.rejects(async () => {
    for await (const _ of guarded) void _;
  }, /cut after \d+ bytes in 1\d\d ms/);
  assert.ok(performance.now() - started < 1000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(source.destroyed);
});

test('withDeadline passes a timely body through unchanged', async () => {
  const guarded = withDeadline(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 1000, () => new Error('too slow'));
  const chunks: Buffer[] = [];
  for await (const chunk of guarded) chunks.push(chunk as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), 'abcd');
});
