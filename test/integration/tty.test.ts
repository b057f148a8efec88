/**
 * The interactive run in a real pseudo-terminal (util-linux `script`): the Ink
 * view draws, the summary stays on screen, and Ctrl-C (a real ^C typed into
 * the terminal) stops cleanly with the cursor restored and nothing left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { specText } from '../support/lading.js';
import { runInTty } from '../support/tty.js';

let work: string;
let registry: TestRegistry;
let image: PushedImage;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-tty-'));
  registry = await startRegistry();
  image = await pushImage(registry, { repository: 'tty/app', tag: '1', layers: [{ randomBytes: 16 << 20, seed: 'tty-layer' }] });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('interactive create in a pseudo-terminal', () => {
  test('draws the live task list and leaves the summary on screen', async () => {
    const spec = join(work, 'ok.yaml');
    await writeFile(spec, specText([image.ref], ['linux/amd64']));
    const run = await runInTty(['create', spec, '-o', join(work, 'ok.tar')], { LADING_CACHE_DIR: join(work, 'cache-ok') });
    assert.equal(run.code, 0, run.screen);
    assert.match(run.screen, /✔ Resolve 1 image/);
    assert.match(run.screen, /Bundle created/);
    assert.match(run.screen, new RegExp(`Bundle\\s+${join(work, 'ok.tar').replaceAll('/', '\\/')}`));
    assert.match(run.screen, /sha256\s+[a-f0-9]{64}/);
    // Ink drew it: cursor hidden while live, shown again at the end; no listr2 log-update frames.
    assert.ok(run.raw.includes('\u001b[?25l'), 'cursor hidden while drawing');
    assert.ok(run.raw.lastIndexOf('\u001b[?25h') > run.raw.lastIndexOf('\u001b[?25l'), 'cursor restored');
  });

  test('Ctrl-C stops cleanly: exit 130, cursor restored, no bundle or temp file', async (t) => {
    const slow = await startFaultProxy(registry.url, [{ match: /blobs/, fault: { kind: 'slow', bytesPerSecond: 2 << 20 } }]);
    t.after(() => slow.stop());
    const dir = await mkdtemp(join(work, 'ctrlc-'));
    const spec = join(dir, 'lading.yaml');
    await writeFile(spec, specText([`${slow.host}/tty/app:1`], ['linux/amd64']));
    const run = await runInTty(['create', spec, '-o', join(dir, 'out.tar')], { LADING_CACHE_DIR: join(work, 'cache-ctrlc') }, {
      when: /MiB \/ 16(\.0)? MiB/,
      keys: '\u0003',
    });
    assert.equal(run.code, 130, run.screen);
    assert.match(run.screen, /Interrupted/);
    assert.ok(run.raw.lastIndexOf('\u001b[?25h') > run.raw.lastIndexOf('\u001b[?25l'), 'cursor restored');
    assert.deepEqual(await readdir(dir), ['lading.yaml']);
  });
});
