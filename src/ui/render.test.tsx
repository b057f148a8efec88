import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { createTaskStore } from './store.js';
import { nextRender, plain } from './test-helpers.js';
import { renderCreate } from './render.js';

/** A non-TTY stdout (as when piped) that keeps what Ink writes. */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  Object.assign(stream, { isTTY: false, columns: 80, rows: 24 });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => plain(chunks.join('')) };
}

function quietStdin(): NodeJS.ReadStream {
  const stdin = new PassThrough();
  // The view reads no keys; touching raw mode would take Ctrl-C away from the CLI.
  Object.assign(stdin, { isTTY: false, setRawMode: () => assert.fail('stdin raw mode was changed') });
  return stdin as unknown as NodeJS.ReadStream;
}

describe('renderCreate', () => {
  it('draws on the streams it is given and ends with the last frame', async () => {
    const store = createTaskStore();
    const stdout = capture();
    const stderr = capture();
    store.addTasks([{ id: 'a', title: 'Pull images', state: 'running' }]);
    const view = renderCreate({ store, stdout: stdout.stream, stdin: quietStdin(), stderr: stderr.stream });

    store.updateTask('a', { state: 'completed', final: true });
    store.addTasks([{ id: 'b', title: 'Write bundle' }]);
    store.updateTask('b', { state: 'failed', final: true });
    await nextRender();
    view.unmount();
    await view.waitUntilExit();

    assert.equal(stdout.text(), `✔ Pull images\n✖ Write bundle\n\n`);
    assert.equal(stderr.text(), '');
    view.unmount(); // a second unmount (e.g. from the SIGINT handler) is harmless
  });
});
