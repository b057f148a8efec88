import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageOutcomes, isGood, lostImages, nodeOk, tally, unpinnedImages } from './outcome.js';
import { freshReport } from './report.js';
import { holds, namesToPin, pinnedBy, type Listing } from './drivers.js';
import { containerdNames } from './containerd-driver.js';
import { bundleImage, digestOf, nodeFacts } from './test-fixtures.js';

const web = bundleImage('example.com/web:1', digestOf('a'));
const tool = bundleImage('example.com/tool:2', digestOf('b'));
const db = bundleImage('example.com/db:3', digestOf('c'));
const containerd = { names: containerdNames };
const crio = { names: (image: { name: string }) => [image.name] };

describe('what "the image is fine" means', () => {
  it('on containerd: every name a pod may use (tag and repo@digest) with the bundle digest', () => {
    const listing: Listing = new Map([
      ['example.com/web:1', { digest: digestOf('a'), pinnedBy: 'lading' }],
      [`example.com/web@${digestOf('a')}`, { digest: digestOf('a'), pinnedBy: 'lading' }],
      ['example.com/tool:2', { digest: digestOf('b') }],
      ['example.com/db:3', { digest: digestOf('d') }],
    ]);
    assert.equal(holds(containerd, listing, web), true);
    assert.equal(holds(containerd, listing, tool), false, 'by tag only: a pod pinned by digest would pull');
    assert.equal(holds(crio, listing, tool), true, 'CRI-O resolves a digest from the one name');
    const images = imageOutcomes([web, tool, db], (image) => ({ digest: listing.get(image.name)?.digest, held: holds(containerd, listing, image), pinnedBy: pinnedBy(containerd, listing, image) }), new Set(['example.com/web:1']));
    assert.deepEqual(images, [
      { name: 'example.com/web:1', digest: digestOf('a'), outcome: 'injected', pinned: true, pinnedBy: 'lading' },
      { name: 'example.com/tool:2', digest: digestOf('b'), outcome: 'missing', detail: 'under its tag only: a pod that names its digest would pull' },
      { name: 'example.com/db:3', digest: digestOf('c'), outcome: 'wrong-digest', detail: `node has ${digestOf('d')}` },
    ]);
    assert.equal(isGood('injected') && isGood('present') && !isGood('missing') && !isGood('wrong-digest'), true);
  });

  it('pinned only when every name is; names to pin are the held, unpinned ones, never someone else\'s pin', () => {
    const listing: Listing = new Map([
      ['example.com/web:1', { digest: digestOf('a'), pinnedBy: 'runtime' }],
      [`example.com/web@${digestOf('a')}`, { digest: digestOf('a') }],
      ['example.com/tool:2', { digest: digestOf('b') }],
    ]);
    assert.equal(pinnedBy(containerd, listing, web), undefined);
    assert.deepEqual(namesToPin(containerd, listing, [web, tool]), [`example.com/web@${digestOf('a')}`], 'tool is not held (no digest name), so not pinned');
    const store: Listing = new Map([['example.com/tool:2', { digest: digestOf('b'), pinnedBy: 'read-only store' }]]);
    assert.equal(pinnedBy(crio, store, tool), 'read-only store');
    assert.deepEqual(namesToPin(crio, store, [tool]), []);
  });

  it('a node is ok when checked without error, every image fine, and (install) its pods started; lost and unpinned are named', () => {
    const report = freshReport(nodeFacts());
    assert.equal(nodeOk(report, { smoke: false }), false, 'no image judged is not ok');
    report.images = [
      { name: 'a:1', digest: digestOf('a'), outcome: 'present', pinned: false },
      { name: 'b:1', digest: digestOf('b'), outcome: 'injected', pinned: true, pinnedBy: 'lading' },
    ];
    assert.equal(nodeOk(report, { smoke: false }), true);
    assert.equal(nodeOk(report, { smoke: true }), false, 'install needs its pods');
    report.smoke = { image: 'a:1', ok: true, detail: '' };
    assert.equal(nodeOk(report, { smoke: true }), true);
    assert.deepEqual(unpinnedImages(report), ['a:1']);
    assert.deepEqual(tally(report), { injected: 1, present: 1, bad: 0 });
    report.images.push({ name: 'c:1', digest: digestOf('c'), outcome: 'missing' });
    assert.deepEqual(lostImages(report, [web]), ['c:1']);
    report.error = 'agent did not start';
    assert.deepEqual(lostImages(report, [web, tool]), ['example.com/web:1', 'example.com/tool:2'], 'a node that could not be checked may have lost anything');
  });
});
