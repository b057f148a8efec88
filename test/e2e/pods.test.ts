// Pods on the offline node: the sandbox image runs without pulling; an image the node lacks cannot be
// pulled (the cluster is really offline).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  connect,
  createNamespace,
  deleteNamespace,
  describePod,
  pinnedVersions,
  podSpec,
  waitFor,
  waitForPodRunning,
  type TestCluster,
} from './helpers/cluster.js';

describe('pods on the offline node', () => {
  let c: TestCluster;
  let ns: string | undefined;
  before(async () => {
    c = await connect();
    ns = await createNamespace(c, 'pods');
  });
  after(async () => {
    if (c) await deleteNamespace(c, ns);
  });

  it('runs a pod from the sandbox image with imagePullPolicy Never, with a pod network address', async () => {
    const { sandboxImage } = pinnedVersions();
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('pause', c.nodeName, sandboxImage) });
    const pod = await waitForPodRunning(c, ns!, 'pause');
    assert.equal(pod.spec?.nodeName, c.nodeName);
    assert.match(pod.status?.podIP ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'pod has no IPv4 address');
    assert.notEqual(pod.status?.podIP, pod.status?.hostIP, 'pod runs on the host network');
  });

  it('cannot pull an image that is not on the node', async () => {
    const image = 'docker.io/library/nginx:1.27';
    await c.core.createNamespacedPod({
      namespace: ns!,
      body: podSpec('absent', c.nodeName, image, { pull: 'IfNotPresent' }),
    });
    const reason = await waitFor(
      'the pull of an absent image to fail',
      async () => {
        const pod = await c.core.readNamespacedPod({ name: 'absent', namespace: ns! });
        const r = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        return r === 'ErrImagePull' || r === 'ImagePullBackOff' ? r : undefined;
      },
      120_000,
      () => describePod(c, ns!, 'absent'),
    );
    assert.ok(['ErrImagePull', 'ImagePullBackOff'].includes(reason));
    const pod = await c.core.readNamespacedPod({ name: 'absent', namespace: ns! });
    assert.notEqual(pod.status?.phase, 'Running');
    assert.equal(pod.status?.containerStatuses?.[0]?.imageID ?? '', '', 'an image was pulled');
  });
});
