// The controller manager and scheduler work: a new namespace gets its `default` ServiceAccount and the
// root CA ConfigMap, and a Deployment of an image the node holds rolls out.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect, deleteNamespace, pinnedVersions, waitFor, type TestCluster } from './helpers/cluster.js';

describe('controllers', () => {
  let c: TestCluster;
  let ns: string | undefined;
  before(async () => {
    c = await connect();
  });
  after(async () => {
    if (c) await deleteNamespace(c, ns);
  });

  it('creates the default ServiceAccount and kube-root-ca.crt in a new namespace', async () => {
    ns = `lading-e2e-ctrl-${randomBytes(3).toString('hex')}`;
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
    const sa = await waitFor(`ServiceAccount ${ns}/default`, async () =>
      c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns! }),
    );
    assert.equal(sa.metadata?.name, 'default');
    const cm = await waitFor(`ConfigMap ${ns}/kube-root-ca.crt`, async () =>
      c.core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: ns! }),
    );
    assert.match(cm.data?.['ca.crt'] ?? '', /BEGIN CERTIFICATE/);
  });

  it('rolls out a Deployment whose image is on the node', async () => {
    assert.ok(ns, 'the namespace was not created');
    const { sandboxImage } = pinnedVersions();
    const labels = { app: 'rollout' };
    await c.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'rollout' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [{ name: 'main', image: sandboxImage, imagePullPolicy: 'IfNotPresent' }],
            },
          },
        },
      },
    });
    const status = await waitFor(
      'Deployment rollout to complete',
      async () => {
        const d = await c.apps.readNamespacedDeployment({ name: 'rollout', namespace: ns! });
        const s = d.status;
        const done =
          (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
          s?.updatedReplicas === 2 &&
          s?.readyReplicas === 2 &&
          s?.availableReplicas === 2 &&
          s?.conditions?.some((x) => x.type === 'Available' && x.status === 'True');
        return done ? s : undefined;
      },
      120_000,
      async () => JSON.stringify((await c.apps.readNamespacedDeployment({ name: 'rollout', namespace: ns! })).status),
    );
    assert.equal(status.readyReplicas, 2);
    const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=rollout' });
    assert.equal(pods.items.length, 2);
    for (const p of pods.items) {
      assert.equal(p.spec?.nodeName, c.nodeName, 'the scheduler placed the pod');
      assert.equal(p.status?.phase, 'Running');
    }
  });
});
