/**
 * Which blobs a node's archive carries, and when each image is complete in it: the point after which
 * an archive unpacked as it arrives can hand that image to podman (the stream itself runs against the
 * real podman, skopeo and ctr in test/integration/containers-storage.test.ts and delta-import.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BundleBlobRef, BundleImage } from './layout.js';
import { planNodeArchive } from './node-archive.js';

const blob = (name: string, size = 10): BundleBlobRef => ({ digest: `sha256:${name.padEnd(64, '0')}`, size, mediaType: 'application/octet-stream' });
const image = (name: string, layers: BundleBlobRef[], platform = 'linux/amd64'): BundleImage => ({
  source: name,
  name,
  root: blob(`${name}r`),
  platforms: [{ platform, manifest: blob(`${name}m`), config: blob(`${name}c`), layers }],
});
const base = blob('ba5e', 1000);

describe('planNodeArchive', () => {
  it('carries a shared layer once, and names for each image how many blobs make it complete', () => {
    const plan = planNodeArchive([image('a', [base, blob('a1')]), image('b', [base, blob('b1')]), image('c', [blob('c1')])], 'linux/amd64');
    assert.deepEqual(plan.blobs.map((b) => b.digest.slice(7, 11)), ['ar00', 'am00', 'ac00', 'ba5e', 'a100', 'br00', 'bm00', 'bc00', 'b100', 'cr00', 'cm00', 'cc00', 'c100']);
    assert.deepEqual(plan.completeAfter, [5, 9, 13]);
    assert.equal(plan.bytes, 1000 + 12 * 10);
  });

  it('a layer left out (the node holds it) is not waited for; an image of another platform is not in the plan', () => {
    const plan = planNodeArchive([image('a', [base, blob('a1')]), image('x', [blob('x1')], 'linux/arm64'), image('b', [base])], 'linux/amd64', new Set([base.digest]));
    assert.deepEqual(plan.images.map(({ image }) => image.name), ['a', 'b']);
    assert.deepEqual(plan.completeAfter, [4, 7]);
    assert.deepEqual(plan.fromTarget.map((b) => b.digest), [base.digest]);
  });
});
