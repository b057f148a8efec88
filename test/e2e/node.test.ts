// The test node is Ready and reports the pinned kubelet and a containerd 2.x runtime; it holds only the
// sandbox image (plus the e2e toolbox image that other specs import).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { connect, pinnedVersions, type TestCluster } from './helpers/cluster.js';

const TOOLBOX_IMAGE = 'lading.test/e2e/toolbox:1';

describe('test cluster node', () => {
  let c: TestCluster;
  before(async () => {
    c = await connect();
  });

  it('is the only node, and it is Ready', async () => {
    const nodes = await c.core.listNode();
    assert.deepEqual(
      nodes.items.map((n) => n.metadata?.name),
      [c.nodeName],
    );
    const node = await c.core.readNode({ name: c.nodeName });
    const ready = node.status?.conditions?.find((x) => x.type === 'Ready');
    assert.equal(ready?.status, 'True', `Ready condition: ${JSON.stringify(ready)}`);
    assert.ok(!node.spec?.unschedulable, 'node is cordoned');
    const taints = node.spec?.taints ?? [];
    assert.deepEqual(taints, [], `node has taints: ${JSON.stringify(taints)}`);
  });

  it('reports containerd 2.x and the pinned kubelet version', async () => {
    const pins = pinnedVersions();
    const info = (await c.core.readNode({ name: c.nodeName })).status?.nodeInfo;
    assert.ok(info, 'node has no nodeInfo');
    assert.match(info.containerRuntimeVersion, /^containerd:\/\/2\./);
    assert.equal(info.containerRuntimeVersion, `containerd://${pins.containerd.replace(/^v/, '')}`);
    assert.equal(info.kubeletVersion, pins.kubernetes);
    assert.equal(info.operatingSystem, 'linux');
    // the API server is the same build
    const version = await c.kc.makeApiClient((await import('@kubernetes/client-node')).VersionApi).getCode();
    assert.equal(version.gitVersion, pins.kubernetes);
  });

  it('holds the sandbox image and nothing an installer would not have put there', async () => {
    const { sandboxImage } = pinnedVersions();
    const node = await c.core.readNode({ name: c.nodeName });
    const names = (node.status?.images ?? []).flatMap((i) => i.names ?? []).filter((n) => !n.includes('@sha256:'));
    assert.ok(names.includes(sandboxImage), `sandbox image ${sandboxImage} missing from ${JSON.stringify(names)}`);
    const unexpected = names.filter((n) => n !== sandboxImage && n !== TOOLBOX_IMAGE);
    assert.deepEqual(unexpected, [], 'the node holds images it should not');
  });
});
