/**
 * A delta's node archive leaves out the layers its base holds. The real import
 * paths must take it where the base went first: containerd's `ctr images
 * import` (the layers are in its content store; the image unpacks) and
 * podman's load into lading's store (containers-storage reuses the layers it
 * has). What each runtime holds is read back as lading reads it on a node
 * (content ls; the store's layers.json), and an archive whose left-out layer
 * the runtime lacks fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';
import { localShell } from '../support/local-shell.js';
import { removeStoreWork } from '../support/podman-work.js';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { readDescription } from '../../src/core/bundle/documents.js';
import { planNodeArchive, streamNodeArchive, type NodeArchivePlan } from '../../src/core/bundle/node-archive.js';
import { detectContainerd, importArchive, listBlobs, listImages } from '../../src/core/runtimes/containerd.js';
import { detectContainersStorage, listStore, listStoreBlobs, loadIntoStore } from '../../src/core/runtimes/containers-storage.js';
import type { BundleMetadata } from '../../src/core/bundle/layout.js';

let work: string;
let v1: PushedImage;
let v2: PushedImage;
const bundles = { v1: '', delta: '' };

before(async () => {
  // lowercase, as /var/lib/lading is (podman loads the unpacked archive from there), and short: podman
  // refuses a runroot over 50 characters (lading's is /run/lading/ and the store's path)
  work = join(tmpdir(), `lading-dimp-${randomBytes(3).toString('hex')}`);
  await mkdir(work);
  const registry = await startRegistry();
  try {
    const base = { randomBytes: 3 << 20, seed: 'delta-import-base' };
    v1 = await pushImage(registry, { repository: 'delta/imp', tag: '1', layers: [base, { files: { version: '1\n' } }] });
    v2 = await pushImage(registry, { repository: 'delta/imp', tag: '2', layers: [base, { files: { version: '2\n' } }] });
    for (const [name, ref, extra] of [['v1', v1.ref, []], ['delta', v2.ref, ['--since', join(work, 'v1.tar')]]] as const) {
      await writeFile(join(work, `${name}.yaml`), specText([ref], ['linux/amd64']));
      const r = await runLading(['create', join(work, `${name}.yaml`), '-o', join(work, `${name}.tar`), ...extra], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(r.code, 0, r.stderr);
      bundles[name] = join(work, `${name}.tar`);
    }
  } finally {
    await registry.stop();
  }
});

after(async () => {
  if (work) await removeStoreWork(work);
});

/** The node archive of a bundle's images, as install streams it; for a delta without what it leaves out. */
/** The node plan of a bundle's images (all, or the one named), with the reader it streams from. */
async function withPlan<T>(bundle: string, image: string | undefined, use: (reader: BundleReader, plan: NodeArchivePlan, metadata: BundleMetadata) => Promise<T>): Promise<T> {
  const reader = await BundleReader.open(bundle);
  try {
    const { metadata } = await readDescription(reader);
    const omitted = new Set((metadata.omitted ?? []).map((o) => o.digest));
    const images = metadata.images.filter((i) => !image || i.name === image);
    return await use(reader, planNodeArchive(images, 'linux/amd64', omitted), metadata);
  } finally {
    await reader.close();
  }
}

async function withArchive<T>(bundle: string, use: (archive: ReturnType<typeof streamNodeArchive>, metadata: BundleMetadata, leftOut: string[]) => Promise<T>, image?: string): Promise<T> {
  return withPlan(bundle, image, (reader, plan, metadata) =>
    use(streamNodeArchive(reader, plan, { digestNames: image === undefined }), metadata, plan.fromTarget.map((b) => b.digest)),
  );
}

describe('a delta imported where its base is', () => {
  test('containerd: ctr import takes the delta once the base is in; the image unpacks; content ls shows the base layers', async () => {
    const containerd: TestContainerd = await startContainerd();
    try {
      const shell = localShell();
      const runtime = await detectContainerd(shell, { socket: containerd.socket });
      const leftOut = await withArchive(bundles.delta, async (_archive, _m, left) => left);
      assert.ok(leftOut.length >= 1, 'the delta leaves the base layer out');
      // Before the base: the runtime lacks them, and lading would say so.
      const before = await listBlobs(shell, runtime);
      assert.ok(leftOut.every((d) => !before.has(d)));
      await withArchive(bundles.v1, (archive) => importArchive(shell, runtime, archive));
      const held = await listBlobs(shell, runtime);
      for (const d of leftOut) assert.ok(held.has(d), `content ls lists ${d}`);
      await withArchive(bundles.delta, (archive) => importArchive(shell, runtime, archive));
      const listed = await listImages(shell, runtime);
      assert.equal(listed.get(v2.ref)?.digest, v2.digest);
      // Unpacked for the default snapshotter: the image is usable, not just named.
      const { stdout } = await containerd.ctr(['images', 'check', `name==${v2.ref}`], { namespace: 'k8s.io' });
      assert.match(stdout, /complete/, stdout);
    } finally {
      await containerd.stop();
    }
  });

  test('containers-storage: podman load into lading\'s store reuses the base\'s layers; without the base the load fails', async () => {
    requireTool('podman', 'install it with `apt-get install podman` (or run `bash scripts/install-test-deps`)');
    const shell = localShell();
    const storageConf = join(work, 'storage.conf');
    await writeFile(storageConf, '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n');
    const store = await detectContainersStorage(shell, { root: join(work, 'store'), storageConf });
    const empty = await detectContainersStorage(shell, { root: join(work, 'empty'), storageConf });
    await assert.rejects(withPlan(bundles.delta, v2.ref, (reader, plan) => loadIntoStore(shell, empty, reader, plan)), /loading .* failed: .*reading blob sha256:[0-9a-f]{64}: .*no such file/, 'a store without the base cannot take the delta: the layer is neither in the archive nor in the store');

    await withPlan(bundles.v1, v1.ref, (reader, plan) => loadIntoStore(shell, store, reader, plan));
    const leftOut = await withArchive(bundles.delta, async (_a, _m, left) => left, v2.ref);
    const held = await listStoreBlobs(shell, store);
    for (const d of leftOut) assert.ok(held.has(d), `layers.json names ${d}`);
    await withPlan(bundles.delta, v2.ref, (reader, plan) => loadIntoStore(shell, store, reader, plan));
    assert.equal((await listStore(shell, store)).get(v2.ref), v2.digest);
  });
});
