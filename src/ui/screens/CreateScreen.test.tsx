import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { createTaskStore } from '../store.js';
import { nextRender, plain } from '../test-helpers.js';
import { CreateScreen } from './CreateScreen.js';

describe('CreateScreen', () => {
  afterEach(cleanup);

  it('follows the store: tasks first, then the summary', async () => {
    const store = createTaskStore();
    store.addTasks([
      { id: 'a', title: 'Read spec', state: 'running' },
      { id: 'b', title: 'Pull images' },
    ]);
    const { lastFrame } = render(<CreateScreen store={store} />);
    assert.equal(plain(lastFrame()), `⠋ Read spec\n◻ Pull images`);

    store.updateTask('a', { state: 'completed', final: true });
    store.updateTask('b', { state: 'completed', final: true });
    store.setSummary({
      bundlePath: 'out/x.lading.tar',
      bundleBytes: 2048,
      bundleSha256: 'ab'.repeat(32),
      images: 1,
      platforms: ['linux/amd64'],
      uniqueLayers: 2,
      totalLayerBytes: 1024,
      uniqueLayerBytes: 1024,
      savedBytes: 0,
      downloadedBytes: 0,
      durationMs: 1200,
      imageList: [{ reference: 'example.com/app:1.0', digest: `sha256:${'cd'.repeat(32)}`, platforms: ['linux/amd64'], bytes: 1024 }],
    });
    await nextRender();
    assert.equal(
      plain(lastFrame()),
      `✔ Read spec
✔ Pull images

✔ Bundle created
  Bundle      out/x.lading.tar
  Images      1 (linux/amd64)
  Layers      2 unique, 1.0 KiB
  Downloaded  0 B
  Size        2.0 KiB
  sha256      ${'ab'.repeat(32)}
  Duration    1s

  example.com/app:1.0  sha256:cdcdcdcdcdcd…  linux/amd64  1.0 KiB`,
    );
  });

  it('shows the error that ended the run', async () => {
    const store = createTaskStore();
    store.addTasks([{ id: 'a', title: 'Resolve images' }]);
    store.updateTask('a', { state: 'failed', error: '401 Unauthorized', final: true });
    const { lastFrame } = render(<CreateScreen store={store} />);
    store.setError({ message: 'registry refused our credentials', hint: 'run docker login' });
    await nextRender();
    assert.equal(
      plain(lastFrame()),
      `✖ Resolve images
  → 401 Unauthorized

╭──────────────────────────────────╮
│ Error                            │
│ registry refused our credentials │
│                                  │
│ Next: run docker login           │
╰──────────────────────────────────╯`,
    );
  });
});
