import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { agentPod, pickAgentImage, sandboxImageFailure } from './agent.js';

describe('the node agent', () => {
  it('runs the node\'s sandbox image: the smallest pause image its status lists by name', () => {
    const node = {
      status: {
        images: [
          { names: ['registry.k8s.io/pause@sha256:' + 'a'.repeat(64), 'registry.k8s.io/pause:3.10'], sizeBytes: 320_000 },
          { names: ['registry.k8s.io/pause:3.9'], sizeBytes: 310_000 },
          { names: ['example.com/pause-app:1'], sizeBytes: 10 },
        ],
      },
    } as k8s.V1Node;
    assert.equal(pickAgentImage(node), 'registry.k8s.io/pause:3.9');
    assert.equal(pickAgentImage({ status: { images: [{ names: ['nginx:1'] }] } } as k8s.V1Node), undefined);
  });

  it('prefers a pause image from where sandbox images come from over a smaller one a bundle brought', () => {
    const node = { status: { images: [{ names: ['127.0.0.1:5055/demo/pause:3.10'], sizeBytes: 6_000 }, { names: ['registry.k8s.io/pause:3.10'], sizeBytes: 320_000 }] } } as k8s.V1Node;
    assert.equal(pickAgentImage(node), 'registry.k8s.io/pause:3.10');
    const k3s = { status: { images: [{ names: ['example.com/pause:1'], sizeBytes: 10 }, { names: ['docker.io/rancher/mirrored-pause:3.6'], sizeBytes: 300_000 }] } } as k8s.V1Node;
    assert.equal(pickAgentImage(k3s), 'docker.io/rancher/mirrored-pause:3.6');
  });

  it('is pinned, privileged, tolerates every taint, never pulls, sees the host at /host, and shares no host namespace', () => {
    const pod = agentPod('lading-system', 'node-a', 'registry.k8s.io/pause:3.10');
    const spec = pod.spec!;
    assert.equal(spec.nodeName, 'node-a');
    assert.deepEqual(spec.tolerations, [{ operator: 'Exists' }]);
    assert.equal(spec.containers[0]!.imagePullPolicy, 'Never');
    assert.equal(spec.containers[0]!.securityContext?.privileged, true);
    assert.deepEqual(spec.volumes, [{ name: 'host', hostPath: { path: '/', type: 'Directory' } }]);
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal(spec.hostPID ?? false, false, 'node-config.ts reads host processes through /host/proc instead');
    assert.equal(pod.metadata!.labels!['app.kubernetes.io/name'], 'lading-agent');
  });

  it('tells a sandbox that cannot be made for want of the sandbox image from other failures', () => {
    const event = (reason: string, message: string) => ({ reason, message }) as k8s.CoreV1Event;
    assert.ok(sandboxImageFailure([event('FailedCreatePodSandBox', 'error creating pod sandbox: registry.k8s.io/pause:3.10: image not known')]));
    assert.ok(sandboxImageFailure([event('FailedCreatePodSandBox', 'failed to get sandbox image "registry.k8s.io/pause:3.10": failed to pull image')]));
    assert.equal(sandboxImageFailure([event('FailedCreatePodSandBox', 'plugin type="bridge" failed (add): failed to allocate for range 0')]), undefined, 'a CNI failure is not the sandbox image');
    assert.equal(sandboxImageFailure([event('FailedCreatePodSandBox', 'failed to setup network for sandbox: plugin type="loopback" failed: failed to find plugin "loopback" in path [/opt/cni/bin]: not found')]), undefined);
    assert.equal(sandboxImageFailure([event('Pulled', 'pause image already present')]), undefined);
  });
});
