import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCi, pickOutputMode, useColor, type Streams } from './output.js';

const tty = { stdout: { isTTY: true }, stderr: { isTTY: true }, stdin: {} } as unknown as Streams;
const pipe = { stdout: { isTTY: false }, stderr: { isTTY: false }, stdin: {} } as unknown as Streams;

test('the live view only on a terminal outside CI', () => {
  assert.equal(pickOutputMode({}, tty, {}), 'tui');
  assert.equal(pickOutputMode({}, pipe, {}), 'plain');
  assert.equal(pickOutputMode({ tui: false }, tty, {}), 'plain');
  assert.equal(pickOutputMode({ json: true }, tty, {}), 'json');
  assert.equal(pickOutputMode({}, tty, { TERM: 'dumb' }), 'plain');
  // CI set to anything but 0/false counts, even empty: Ink would not draw live frames either.
  assert.equal(pickOutputMode({}, tty, { CI: '' }), 'plain');
  assert.equal(pickOutputMode({}, tty, { CI: 'false' }), 'tui');
  assert.ok(isCi({ CONTINUOUS_INTEGRATION: '1' }));
});

test('colour honours NO_COLOR and terminals', () => {
  assert.equal(useColor(tty.stderr, {}), true);
  assert.equal(useColor(tty.stderr, { NO_COLOR: '1' }), false);
  assert.equal(useColor(pipe.stderr, {}), false);
  assert.equal(useColor(pipe.stderr, { FORCE_COLOR: '1' }), true);
});
