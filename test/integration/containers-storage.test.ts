/**
 * The CRI-O path against this machine's real containers-storage (podman): a
 * bundle's images loaded into a separate store, listed with their source
 * digests, seen read-only by a podman that uses it as an additional store (as
 * CRI-O does), the same with skopeo as the loader and where podman cannot
 * name an image after the unpacked archive's path, and storage.conf edited
 * with a backup and restored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';
import { localShell } from '../support/local-shell.js';
import { removeStoreWork } from '../support/podman-work.js';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { READY_MARKER, planNodeArchive, streamNodeArchive } from '../../src/core/bundle/node-archive.js';
import { configureStore, detectContainersStorage, listStore, loadIntoStore, loadScript, loadsTogether, loadsUnpacked, type ContainersStore } from '../../src/core/runtimes/containers-storage.js';
import type { HostShell } from '../../src/core/host.js';
import { gateAfterEntry } from '../support/tar-gate.js';
import { restoreHostFiles } from '../../src/core/config/host-restore.js';
import { readDescription } from '../../src/core/bundle/documents.js';

const run = promisify(execFile);
let work: string;
/** Lowercase all through, as /var/lib/lading is: podman can name an image after a directory below it. */
let lowercaseWork: string;
let bundle: string;
let images: PushedImage[];

const OCNE_CONF = `[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"

[storage.options]
additionalimagestores = [
  "/usr/ock/containers",
]
`;

before(async () => {
  requireTool('podman', 'install it with `apt-get install podman` (or run `bash scripts/install-test-deps`)');
  work = await mkdtemp(join(tmpdir(), 'lading-cstore-'));
  lowercaseWork = join(tmpdir(), `lading-cstore-${randomBytes(6).toString('hex')}`);
  await mkdir(lowercaseWork);
  const registry = await startRegistry();
  try {
    images = [
      await pushImage(registry, { repository: 'crio/web', tag: '1', platforms: ['linux/amd64', 'linux/arm64'], layers: [{ files: { 'index.html': 'hi\n' } }] }),
      await pushImage(registry, { repository: 'crio/tool', tag: '2', layers: [{ randomBytes: 2 << 20, seed: 'crio-tool' }] }),
      await pushImage(registry, { repository: 'crio/pinned', tag: '3', layers: [{ files: { 'pinned.txt': 'by digest\n' } }] }),
    ];
    const spec = join(work, 'lading.yaml');
    // the third named by digest only, as a spec may: podman cannot tag an image by digest
    await writeFile(spec, specText([images[0]!.ref, { name: images[1]!.ref, platforms: ['linux/amd64'] }, images[2]!.digestRef]));
    bundle = join(work, 'bundle.tar');
    const r = await runLading(['create', spec, '-o', bundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await registry.stop();
  }
});

after(async () => {
  if (work) await removeStoreWork(work);
  if (lowercaseWork) await removeStoreWork(lowercaseWork);
});

/** What the store must list: each image under the name the spec gives it, with its source digest. */
const expectedListing = () => Object.fromEntries(images.map((i, n) => [n === 2 ? i.digestRef : i.ref, i.digest]));

/**
 * Loads every image of the bundle into the store as the CRI-O driver does: those that `loadsUnpacked`
 * from one archive, unpacked once on the host; the others one archive each. Returns which went together.
 */
async function loadAll(store: Awaited<ReturnType<typeof detectContainersStorage>>): Promise<string[]> {
  const shell = localShell();
  const reader = await BundleReader.open(bundle);
  try {
    const { metadata } = await readDescription(reader);
    const together = metadata.images.filter((image) => loadsUnpacked(store, image.name));
    const load = (chosen: typeof together) => loadIntoStore(shell, store, reader, planNodeArchive(chosen, 'linux/amd64'));
    if (together.length) await load(together);
    for (const image of metadata.images.filter((i) => !together.includes(i))) await load([image]);
    return together.map((image) => image.name);
  } finally {
    await reader.close();
  }
}

/** The archive of the images that load together (ready markers on), as loadIntoStore streams it. */
async function withTogetherArchive<T>(store: ContainersStore, use: (archive: Readable, names: string[]) => Promise<T>): Promise<T> {
  const reader = await BundleReader.open(bundle);
  try {
    const { metadata } = await readDescription(reader);
    const plan = planNodeArchive(metadata.images.filter((image) => loadsUnpacked(store, image.name)), 'linux/amd64');
    const names = plan.images.map(({ image }) => image.name);
    assert.ok(loadsTogether(store, names));
    return await use(streamNodeArchive(reader, plan, { digestNames: false, readyMarkers: true }), names);
  } finally {
    await reader.close();
  }
}

/** loadIntoStore's script on this host, reading `archive`. */
const runLoad = (shell: HostShell, store: ContainersStore, names: string[], archive: Readable) => shell.hostExec(loadScript(store, names, randomBytes(8).toString('hex')), { stdin: archive, bulk: true });

const loadLeftovers = async (dir: string) => (await readdir(dir)).filter((f) => f.includes('lading-load'));

describe('containers-storage (the CRI-O path) with the real podman', () => {
  test('loads each image into a separate store under its name and source digest; podman sees it read-only', async () => {
    const shell = localShell();
    const storageConf = join(work, 'storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    const store = await detectContainersStorage(shell, { root: join(lowercaseWork, 'store'), storageConf });
    assert.equal(store.tool.kind, 'podman');
    assert.equal(store.driver, 'overlay');
    assert.equal(store.tar, true, 'this machine has tar');
    assert.deepEqual(await loadAll(store), [images[0]!.ref, images[1]!.ref], 'the tagged images from one unpacked archive; the one named by digest from its own');
    const listed = await listStore(shell, store);
    assert.deepEqual(Object.fromEntries(listed), expectedListing(), 'each image under its own name only (not the unpacked directory\'s)');
    assert.deepEqual(await loadLeftovers(lowercaseWork), [], 'the unpacked archives are gone');

    // As CRI-O would: another store as the main one, ours as an additional (read-only) one.
    const { stdout } = await run('podman', [
      '--root', join(work, 'main-root'), '--runroot', join(work, 'main-run'), '--storage-driver', 'overlay',
      '--storage-opt', `additionalimagestore=${store.root}`, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ReadOnly}}',
    ]);
    for (const image of images.slice(0, 2)) assert.match(stdout, new RegExp(`${image.ref.replace(/[.]/g, '\\.')} true`), 'the tagged ones, by tag');
  });

  test('with skopeo instead of podman: loaded and listed the same (the list is read from the store itself)', async () => {
    const shell = localShell();
    const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
    const storageConf = join(work, 'skopeo-storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    const detected = await detectContainersStorage(shell, { root: join(work, 'skopeo-store'), storageConf });
    // A CRI-O host that has skopeo and no podman.
    const store = { ...detected, tool: { kind: 'skopeo' as const, path: skopeo } };
    assert.deepEqual(Object.fromEntries(await listStore(shell, store)), {}, 'a store never written to holds nothing');
    assert.equal((await loadAll(store)).length, 3, 'skopeo is told each name: all three from one unpacked archive');
    assert.deepEqual(Object.fromEntries(await listStore(shell, store)), expectedListing());
    const { stdout } = await run('podman', ['--root', store.root, '--runroot', join(work, 'skopeo-run'), '--storage-driver', 'overlay', 'images', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}']);
    for (const image of images.slice(0, 2)) assert.match(stdout, new RegExp(`${image.ref.replace(/[.]/g, '\\.')} ${image.digest}`), 'podman agrees');
    assert.deepEqual(await loadLeftovers(work), [], 'the unpacked archives are gone');
  });

  test('a store below a path with capitals (podman cannot name an image after it): loaded from the archive, listed the same', async () => {
    const shell = localShell();
    const storageConf = join(work, 'caps-storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    await mkdir(join(lowercaseWork, 'Caps'));
    // short: podman refuses a runroot (lading's is /run/lading/ and the store's path) over 50 characters
    const store = await detectContainersStorage(shell, { root: join(lowercaseWork, 'Caps', 's'), storageConf });
    assert.equal(store.tool.kind, 'podman');
    assert.deepEqual(await loadAll(store), [], 'each image from its own archive');
    assert.deepEqual(Object.fromEntries(await listStore(shell, store)), expectedListing());
    assert.deepEqual(await loadLeftovers(join(lowercaseWork, 'Caps')), [], 'podman\'s copies of the archive are gone');
  });

  test('an image goes into the store as soon as its marker arrives, while the rest of the archive is still held back', async () => {
    const shell = localShell();
    const storageConf = join(work, 'early-storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    const store = await detectContainersStorage(shell, { root: join(lowercaseWork, 'early'), storageConf });
    const [first, second] = images;
    await withTogetherArchive(store, (archive, names) => {
      assert.deepEqual(names, [first!.ref, second!.ref]);
      const listsFirst = async () => {
        for (let i = 0; i < 600; i++) {
          if ((await listStore(shell, store)).get(first!.ref) === first!.digest) return;
          await delay(100);
        }
        throw new Error(`${first!.ref} was not in the store within 60 s while the stream was held after its marker: the load waits for the whole archive`);
      };
      return runLoad(shell, store, names, archive.pipe(gateAfterEntry(`${READY_MARKER}0`, { until: listsFirst })));
    });
    assert.deepEqual(Object.fromEntries(await listStore(shell, store)), { [first!.ref]: first!.digest, [second!.ref]: second!.digest });
    assert.deepEqual(await loadLeftovers(lowercaseWork), []);
  });

  test('an archive that ends before the last marker fails the load, saying how many images it held', async () => {
    const shell = localShell();
    const storageConf = join(work, 'cut-storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    const store = await detectContainersStorage(shell, { root: join(lowercaseWork, 'cut'), storageConf });
    const result = await withTogetherArchive(store, (archive, names) => runLoad(shell, store, names, archive.pipe(gateAfterEntry(`${READY_MARKER}0`, { cut: true }))));
    assert.notEqual(result.exitCode, 0, 'the load fails');
    assert.match(result.stderr, /^the archive ended after 1 of 2 images$/m, result.stderr);
    assert.deepEqual(await loadLeftovers(lowercaseWork), [], 'the unpacked directory is gone');
  });

  test('storage.conf gains the store next to /usr/ock/containers, with a backup that --restore puts back', async () => {
    const shell = localShell();
    const storageConf = join(work, 'restore-storage.conf');
    await writeFile(storageConf, OCNE_CONF);
    const backups = join(work, 'backups');
    const store = await detectContainersStorage(shell, { root: '/var/lib/lading/images', storageConf });
    assert.equal(await configureStore(shell, store, backups), true);
    const edited = await readFile(storageConf, 'utf8');
    assert.match(edited, /additionalimagestores = \[\n {2}"\/var\/lib\/lading\/images",\n {2}"\/usr\/ock\/containers",\n\]/);
    assert.equal(await configureStore(shell, store, backups), false, 'a second install changes nothing');
    assert.deepEqual(await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [work] }), { restored: [storageConf], problems: [] });
    assert.equal(await readFile(storageConf, 'utf8'), OCNE_CONF);
  });
});
