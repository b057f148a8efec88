import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { tomlString } from './toml.js';

const HOSTILE = [
  '',
  'plain',
  'x\n[host."evil"]\n  capabilities = ["push"]',
  'x\n/some/file\ny',
  'quote " inside',
  '"',
  '\\',
  '\\"',
  'trailing backslash \\',
  'C0: \u0000\u0001\u0007\b\t\n\u000b\f\r\u001b\u001f end',
  'DEL \u007f and C1 \u0085\u009b',
  'unicode: é 中文 🦀 \u2028 \u2029 \u202e \ufeff \uffff',
  '"""triple""" \'\'\'single\'\'\'',
  '# not a comment',
  'a'.repeat(300),
];

test('tomlString: hostile strings come back exactly, on one line, as a value and as a key', () => {
  for (const value of HOSTILE) {
    const quoted = tomlString(value);
    assert.doesNotMatch(quoted, /[\u0000-\u001f\u007f]/, `raw control character in ${JSON.stringify(quoted)}`);
    const parsed = parse(`v = ${quoted}\n`);
    assert.deepEqual(Object.keys(parsed), ['v']);
    assert.equal(parsed.v, value, JSON.stringify(value));
    const asKey = parse(`[host.${quoted}]\nok = true\n`) as { host: Record<string, unknown> };
    assert.deepEqual(Object.keys(asKey.host), [value]);
  }
});

test('tomlString: a value cannot close the string and add keys or tables', () => {
  const parsed = parse(`server = ${tomlString('x"\nevil = true\n[host."y"]')}\n`);
  assert.deepEqual(Object.keys(parsed), ['server']);
});

test('tomlString: JSON.stringify is not TOML (DEL stays raw), tomlString escapes it', () => {
  assert.throws(() => parse(`v = ${JSON.stringify('a\u007fb')}\n`));
  assert.equal(tomlString('a\u007fb'), '"a\\u007Fb"');
});

test('tomlString: a lone surrogate is refused instead of written as an escape TOML rejects', () => {
  assert.throws(() => tomlString('a\ud800b'), /lone surrogate/);
});
