/**
 * containerd through the host shell with the real ctr against a private
 * containerd: listing with pins, pinning (tag and repo@digest) and taking
 * off only lading's pins. The label is what containerd's CRI reads as
 * "pinned" (io.cri-containerd.pinned=pinned), which the kubelet's image GC skips.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startContainerd, type TestContainerd } from '../../../test/support/containerd.js';
import { goodBundle, writeBundle } from '../../../test/support/hostile-bundle.js';
import { localShell } from '../../../test/support/local-shell.js';
import { BundleReader } from '../bundle/reader.js';
import { readDescription } from '../bundle/documents.js';
import { planNodeArchive, streamNodeArchive } from '../bundle/node-archive.js';
import { detectContainerd, listImages, parseListing, pinImages, unpinLadings, type ContainerdOnNode } from './containerd.js';

const web = 'example.com/app/web:1.0';
const tool = 'example.com/app/tool:2.0';

describe('parseListing', () => {
  it('reads names and digests from ctr images ls, and the pins from the label filters', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const stdout = [
      '== lading: all',
      'REF TYPE DIGEST SIZE PLATFORMS LABELS',
      `a:1 application/vnd.oci.image.index.v1+json ${d} 2.5 KiB linux/amd64,linux/arm64/v8 io.cri-containerd.pinned=pinned,lading.dev/pinned=pinned`,
      `b:1 application/vnd.oci.image.manifest.v1+json ${d} 2.0 KiB linux/amd64 -`,
      `pause:3.10 application/vnd.oci.image.manifest.v1+json ${d} 2.0 KiB linux/amd64 io.cri-containerd.pinned=pinned`,
      'garbage line',
      '== lading: pinned',
      'a:1',
      'pause:3.10',
      '== lading: lading',
      'a:1',
      'b:1',
    ].join('\n');
    assert.deepEqual(Object.fromEntries(parseListing(stdout)), {
      'a:1': { digest: d, pinned: true, pinnedByLading: true },
      'b:1': { digest: d, pinned: false, pinnedByLading: false },
      'pause:3.10': { digest: d, pinned: true, pinnedByLading: false },
    });
  });
});

describe('pins with the real ctr', () => {
  let containerd: TestContainerd;
  let runtime: ContainerdOnNode;
  const shell = localShell();

  before(async () => {
    containerd = await startContainerd();
    const bundle = join(containerd.stateDir, 'bundle.tar');
    await writeBundle(bundle, goodBundle());
    const reader = await BundleReader.open(bundle);
    try {
      const { metadata } = await readDescription(reader);
      await pipeline(streamNodeArchive(reader, planNodeArchive(metadata.images, 'linux/amd64')), createWriteStream(join(containerd.stateDir, 'node.tar')));
    } finally {
      await reader.close();
    }
    // The fixture's layers are not tars, so nothing is unpacked: names and labels are all this test needs.
    await containerd.ctr(['images', 'import', '--no-unpack', join(containerd.stateDir, 'node.tar')], { namespace: 'k8s.io' });
    runtime = await detectContainerd(shell, { socket: containerd.socket });
  });
  after(() => containerd?.stop());

  it('lists what the node holds unpinned, pins tag and digest names, and the label lands as the CRI reads it', async () => {
    const before = await listImages(shell, runtime);
    assert.equal(before.get(web)?.pinned, false);
    const byDigest = [...before.keys()].find((n) => n.startsWith('example.com/app/web@sha256:'))!;
    assert.ok(byDigest, 'the node archive names each image by digest too');
    await pinImages(shell, runtime, [web, byDigest]);
    const after = await listImages(shell, runtime);
    assert.deepEqual([after.get(web), after.get(byDigest)].map((i) => [i?.pinned, i?.pinnedByLading]), [[true, true], [true, true]]);
    assert.equal(after.get(tool)?.pinned, false);
    const { stdout } = await containerd.ctr(['images', 'ls', 'name==' + web], { namespace: 'k8s.io' });
    assert.match(stdout, /io\.cri-containerd\.pinned=pinned/);
  });

  it('--restore takes off only lading\'s pins; a pin someone else set stays', async () => {
    await containerd.ctr(['images', 'label', tool, 'io.cri-containerd.pinned=pinned'], { namespace: 'k8s.io' });
    const unpinned = await unpinLadings(shell, runtime);
    assert.deepEqual(unpinned.sort(), [web, `example.com/app/web@${(await listImages(shell, runtime)).get(web)!.digest}`].sort());
    const listed = await listImages(shell, runtime);
    assert.equal(listed.get(web)?.pinned, false);
    assert.deepEqual(listed.get(tool), { digest: listed.get(tool)!.digest, pinned: true, pinnedByLading: false });
    assert.deepEqual(await unpinLadings(shell, runtime), [], 'a second restore finds nothing of lading\'s');
  });

  it('a failing ctr is one line naming the node and what ctr said', async () => {
    await assert.rejects(pinImages(shell, runtime, ['example.com/nothing:1']), /node localhost: pinning images failed: .*not found/);
  });
});
