import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable, printableLines } from './printable.js';
import { JsonLimitError, parseBoundedJson } from './bounded-json.js';

test('printable escapes what would drive or fool a terminal, and keeps ordinary text', () => {
  assert.equal(printable('docker.io/library/nginx:1.27'), 'docker.io/library/nginx:1.27');
  assert.equal(printable('Zürich ✔'), 'Zürich ✔');
  assert.equal(printable('a\u001b[2Jb'), 'a\\e[2Jb');
  assert.equal(printable('title\u001b]0;owned\u0007'), 'title\\e]0;owned\\x07');
  assert.equal(printable('x\ny\r\tz'), 'x\\ny\\r\\tz');
  assert.equal(printable('\u009b31m'), '\\x9b31m', 'the 8-bit CSI');
  assert.equal(printable('evil\u202egnp.exe'), 'evil\\u{202e}gnp.exe', 'a bidi override');
  assert.equal(printable('zero\u200bwidth'), 'zero\\u{200b}width');
  assert.equal(printableLines('line 1\nline\u001b[1m 2'), 'line 1\nline\\e[1m 2');
});

test('bounded JSON: ordinary documents parse, deep or wide ones are refused before they are built', () => {
  const limits = { maxBytes: 1 << 20, maxValues: 1000, maxDepth: 8 };
  assert.deepEqual(parseBoundedJson(Buffer.from('{"a":[1,2,{"b":"[[[{{{"}]}'), limits), { a: [1, 2, { b: '[[[{{{' }] });
  assert.deepEqual(parseBoundedJson(Buffer.from('"a\\"[["'), limits), 'a"[[', 'brackets inside strings, after an escaped quote, do not count');
  assert.throws(() => parseBoundedJson(Buffer.from('['.repeat(9) + ']'.repeat(9)), limits), (e) => e instanceof JsonLimitError && /deeper than 8/.test(e.message));
  assert.throws(() => parseBoundedJson(Buffer.from(`[${'{},'.repeat(1000)}{}]`), limits), (e) => e instanceof JsonLimitError && /more than 1000 values/.test(e.message));
  assert.throws(() => parseBoundedJson(Buffer.alloc(2 << 20, 0x20), limits), (e) => e instanceof JsonLimitError && /bytes, more than/.test(e.message));
  assert.throws(() => parseBoundedJson(Buffer.from('{"a":'), limits), SyntaxError);
});
