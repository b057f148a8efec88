import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { ClusterConnection } from '../cluster/kube.js';
import { runSmokePods } from './smoke.js';
import { bundleImage, digestOf } from './test-fixtures.js';

/**
 * A kubelet as the API server shows it: for each container, the events and
 * status it would report for that image (data-only images present, a missing
 * one refused under Never, pulled under any other policy).
 */
function fakeCluster(onNode: Set<string>) {
  const pods = new Map<string, k8s.V1Pod>();
  const deleted: string[] = [];
  let n = 0;
  const said = (pod: k8s.V1Pod) =>
    pod.spec!.containers.map((c) => {
      const here = onNode.has(c.image!);
      const event = (reason: string, message: string) => ({ reason, message, involvedObject: { name: pod.metadata!.name, fieldPath: `spec.containers{${c.name}}` } }) as k8s.CoreV1Event;
      if (here) return { events: [event('Pulled', `Container image "${c.image}" already present on machine`), event('Failed', 'Error: failed to generate container spec: no command specified')], status: { name: c.name, state: { waiting: { reason: 'CreateContainerError' } } } };
      if (c.imagePullPolicy === 'Never') return { events: [event('ErrImageNeverPull', 'not present')], status: { name: c.name, state: { waiting: { reason: 'ErrImageNeverPull', message: `Container image "${c.image}" is not present with pull policy of Never` } } } };
      return { events: [event('Pulling', `Pulling image "${c.image}"`)], status: { name: c.name, state: { waiting: { reason: 'ContainerCreating' } } } };
    });
  const core = {
    createNamespacedPod: async ({ body }: { body: k8s.V1Pod }) => {
      const name = `${body.metadata!.generateName}${++n}`;
      pods.set(name, { ...body, metadata: { ...body.metadata, name } });
      return pods.get(name)!;
    },
    readNamespacedPod: async ({ name }: { name: string }) => ({ ...pods.get(name)!, status: { phase: 'Pending', containerStatuses: said(pods.get(name)!).map((s) => s.status) } }),
    listNamespacedEvent: async ({ fieldSelector }: { fieldSelector: string }) => ({ items: said(pods.get(fieldSelector.split('=')[1]!)!).flatMap((s) => s.events) }),
    deleteNamespacedPod: async ({ name }: { name: string }) => void deleted.push(name),
  };
  return { conn: { core } as unknown as ClusterConnection, pods, deleted };
}

describe('runSmokePods', () => {
  it('proves data-only images by the kubelet\'s event, names what it could not find, and deletes every pod', async () => {
    const data = bundleImage('example.com/data:1', digestOf('a'));
    const gone = bundleImage('example.com/gone:1', digestOf('b'));
    const cluster = fakeCluster(new Set(['example.com/data:1', `example.com/data@${digestOf('a')}`]));
    const { smoke, proofs } = await runSmokePods(cluster.conn, { namespace: 'ns', node: 'n', images: [data, gone] });
    assert.equal(smoke.ok, false);
    assert.deepEqual(proofs.get('example.com/data:1'), { byName: 'kubelet event "already present on machine"', byDigest: 'kubelet event "already present on machine"' });
    assert.deepEqual(proofs.get('example.com/gone:1'), {});
    assert.match(smoke.detail, /^example\.com\/gone:1 by name: ErrImageNeverPull: Container image "example\.com\/gone:1" is not present with pull policy of Never; example\.com\/gone:1 by digest example\.com\/gone@sha256:b{64}: ErrImageNeverPull: Container image "example\.com\/gone@sha256:b{64}" is not present with pull policy of Never$/);
    const specs = [...cluster.pods.values()].map((p) => p.spec!.containers.map((c) => [c.image, c.imagePullPolicy]));
    assert.deepEqual(specs, [
      [['example.com/data:1', 'Never'], ['example.com/gone:1', 'Never']],
      [[`example.com/data@${digestOf('a')}`, 'Never'], [`example.com/gone@${digestOf('b')}`, 'Never']],
    ]);
    assert.deepEqual(cluster.deleted.sort(), [...cluster.pods.keys()].sort());
  });

  it('many images go into pods of 16 containers each', async () => {
    const images = Array.from({ length: 20 }, (_, i) => bundleImage(`example.com/i${i}:1`, digestOf('c')));
    const cluster = fakeCluster(new Set(images.flatMap((i) => [i.name, `${i.name.replace(/:1$/, '')}@${digestOf('c')}`])));
    const { smoke } = await runSmokePods(cluster.conn, { namespace: 'ns', node: 'n', images });
    assert.equal(smoke.ok, true, smoke.detail);
    assert.deepEqual([...cluster.pods.values()].map((p) => p.spec!.containers.length).sort(), [16, 16, 4, 4]);
  });
});
