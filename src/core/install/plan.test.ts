import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToAdd, likelyComplete, notReady, planNode, shortOfSpace, unfitNodes } from './plan.js';
import { RECORD_SCHEMA, type NodeRecord } from './node-record.js';
import { bundleImage, digestOf, nodeFacts } from './test-fixtures.js';

const web = bundleImage('example.com/web:1', digestOf('a'), ['linux/amd64', 'linux/arm64/v8'], 4000);
const tool = bundleImage('example.com/tool:2', digestOf('b'), ['linux/amd64'], 2000);

describe('planNode', () => {
  it('takes the images of the node platform, and what its status already lists under both names', () => {
    const facts = nodeFacts({ images: [{ names: ['example.com/tool:2', `example.com/tool@${digestOf('b')}`] }, { names: ['example.com/web:1'] }] });
    const plan = planNode(facts, [web, tool]);
    assert.deepEqual(plan.archive.images.map((i) => i.image.name), ['example.com/web:1', 'example.com/tool:2']);
    assert.deepEqual(plan.alreadyPresent, ['example.com/tool:2'], 'web is listed by tag only: a pod by digest would still pull');
    assert.equal(bytesToAdd(plan), 100 + 10 + 10 + 4000, 'only what is not there yet takes space: web\'s root, manifest, config and layer');
  });

  it('a delta: the layers it leaves out are not sent nor counted, and are named as what the node must hold', () => {
    const layer = web.platforms[0]!.layers[0]!;
    const plan = planNode(nodeFacts(), [web, tool], new Set([layer.digest]));
    assert.deepEqual(plan.archive.fromTarget.map((b) => b.digest), [layer.digest]);
    assert.ok(!plan.archive.blobs.some((b) => b.digest === layer.digest), 'not in the archive');
    assert.equal(bytesToAdd(plan), 100 + 10 + 10 + 100 + 2000, 'web without its layer, and tool (the fixtures share manifest and config digests)');
    assert.deepEqual(planNode(nodeFacts(), [tool], new Set([layer.digest])).archive.fromTarget, [], 'only what this node\'s images use');
  });

  it('an arm64 node gets only the images that have arm64', () => {
    const plan = planNode(nodeFacts({ arch: 'arm64' }), [web, tool]);
    assert.deepEqual(plan.archive.images.map((i) => i.image.name), ['example.com/web:1']);
  });
});

describe('likelyComplete: whether the receiver is worth starting before the runtime is listed', () => {
  const bundle = { digest: digestOf('f'), name: 'site', version: '1' };
  const recordOf = (images: Array<{ name: string; digest: string }>, bootID = 'boot-1', digest = bundle.digest): NodeRecord => ({
    schema: RECORD_SCHEMA,
    node: 'node-a',
    installs: [{ bundle: { ...bundle, digest }, installedAt: '2026-12-02T00:00:00Z', bootID, runtime: 'containerd://2', images }],
  });
  const both = [
    { name: 'example.com/web:1', digest: digestOf('a') },
    { name: 'example.com/tool:2', digest: digestOf('b') },
  ];

  it('the status lists every image, or an install of this bundle since the last boot recorded them', () => {
    const listed = nodeFacts({ images: [{ names: ['example.com/tool:2', `example.com/tool@${digestOf('b')}`] }, { names: ['example.com/web:1', `example.com/web@${digestOf('a')}`] }] });
    assert.equal(likelyComplete(planNode(listed, [web, tool]), undefined, bundle.digest), true);
    assert.equal(likelyComplete(planNode(nodeFacts(), [web, tool]), recordOf(both), bundle.digest), true, 'the status lags; the record does not');
    const toolListed = nodeFacts({ images: [{ names: ['example.com/tool:2', `example.com/tool@${digestOf('b')}`] }] });
    assert.equal(likelyComplete(planNode(toolListed, [web, tool]), recordOf([both[0]!]), bundle.digest), true, 'one by each');
  });

  it('anything else says missing: no record, another boot, another bundle, another digest, an image not recorded', () => {
    const plan = planNode(nodeFacts(), [web, tool]);
    assert.equal(likelyComplete(plan, undefined, bundle.digest), false);
    assert.equal(likelyComplete(plan, recordOf(both, 'boot-0'), bundle.digest), false, 'rebooted since: a reset may have wiped the store');
    assert.equal(likelyComplete(plan, recordOf(both, ''), bundle.digest), false);
    assert.equal(likelyComplete(plan, recordOf(both, 'boot-1', digestOf('e')), bundle.digest), false);
    assert.equal(likelyComplete(plan, recordOf([both[0]!, { name: 'example.com/tool:2', digest: digestOf('c') }]), bundle.digest), false);
    assert.equal(likelyComplete(plan, recordOf([both[0]!]), bundle.digest), false);
    const listed = nodeFacts({ images: [{ names: ['example.com/tool:2', `example.com/tool@${digestOf('b')}`] }, { names: ['example.com/web:1', `example.com/web@${digestOf('a')}`] }] });
    assert.equal(likelyComplete({ ...planNode(listed, [web, tool]), lost: ['example.com/web:1'] }, recordOf(both), bundle.digest), false, 'a check just found it lost: status and record are out of date');
  });
});

describe('refusals, in the order an operator fixes them', () => {
  it('the sandbox image with other content comes first', () => {
    const pause = bundleImage('registry.k8s.io/pause:3.10', digestOf('c'));
    const plans = [planNode(nodeFacts({ runtime: 'docker://1' }), [pause])];
    assert.match(unfitNodes(plans, ['linux/amd64'])!.message, /would replace the sandbox image registry\.k8s\.io\/pause:3\.10 of node node-a \(the node has sha256:9{64}, the bundle sha256:c{64}\)/);
  });

  it('then a node no image runs on, then a runtime lading cannot inject into', () => {
    const arm = [planNode(nodeFacts({ name: 'arm', arch: 'arm64', runtime: 'docker://1' }), [tool])];
    assert.match(unfitNodes(arm, ['linux/amd64'])!.message, /^no image in the bundle runs on node arm \(linux\/arm64\/v8\); the bundle carries linux\/amd64$/);
    const docker = [planNode(nodeFacts({ name: 'd', runtime: 'docker://25.0' }), [tool])];
    assert.match(unfitNodes(docker, ['linux/amd64'])!.message, /cannot inject into yet: d \(docker:\/\/25\.0\)/);
    assert.equal(unfitNodes([planNode(nodeFacts({ runtime: 'cri-o://1.34.0' }), [tool])], ['linux/amd64']), undefined);
  });

  it('space: only nodes whose kubelet reported their image filesystem, with the sizes named', () => {
    const plan = planNode(nodeFacts(), [web]);
    assert.equal(shortOfSpace([plan], 15), undefined, 'no report, no refusal (the agent checks with df)');
    plan.imageFs = { available: 300 << 20, size: 1 << 30 };
    assert.match(shortOfSpace([plan], 15)!.message, /not enough free space on the image filesystem of node-a \(300 MiB free of 1(\.0)? GiB, the import needs about 256 MiB and 15 % \(154 MiB\) must stay free\)/);
    assert.equal(shortOfSpace([plan], 0), undefined);
  });

  it('nodes not Ready are named', () => {
    assert.match(notReady([planNode(nodeFacts({ name: 'x', ready: false }), [web]), planNode(nodeFacts(), [web])])!.message, /^nodes not Ready: x$/);
  });
});
