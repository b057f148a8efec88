import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { InterruptedError } from '../core/errors.js';
import type { Streams } from './output.js';
import { confirmInView } from './views.js';

function streams(): { streams: Streams; stdin: PassThrough; out: () => string; err: () => string } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c));
  stderr.on('data', (c: Buffer) => (err += c));
  return { streams: { stdin, stdout, stderr } as unknown as Streams, stdin, out: () => out, err: () => err };
}

test('plain mode: the plan on stdout, the question on stderr, y or yes agrees', async () => {
  for (const typed of ['y\n', 'YES\n']) {
    const s = streams();
    const answer = confirmInView('plain', s.streams, ['Plan:', '  node-a: inject 1 image'], 'Install on 1 node(s)?');
    s.stdin.write(typed);
    assert.equal(await answer, true);
    assert.equal(s.out(), 'Plan:\n  node-a: inject 1 image\n');
    assert.match(s.err(), /Install on 1 node\(s\)\? \[y\/N\] $/);
  }
});

test('plain mode: Enter or anything else is no', async () => {
  for (const typed of ['\n', 'n\n', 'sure\n']) {
    const s = streams();
    const answer = confirmInView('plain', s.streams, [], 'Go?');
    s.stdin.write(typed);
    assert.equal(await answer, false, JSON.stringify(typed));
  }
});

test('plain mode on a terminal: Ctrl-C at the question is an interruption, not a hang', { timeout: 5_000 }, async () => {
  const s = streams();
  // readline treats its output as a terminal when it says so, and then reads keys itself (Ctrl-C as SIGINT).
  Object.assign(s.streams.stderr, { isTTY: true, columns: 80 });
  const answer = confirmInView('plain', s.streams, [], 'Go?');
  s.stdin.write('\x03');
  await assert.rejects(answer, InterruptedError);
});
