/**
 * The node session's rules without a cluster: a fake API server for the
 * agent pod (the kubelet's events as it would send them), and a real bundle
 * file for the import retry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { ClusterConnection } from '../cluster/kube.js';
import { ExecConnectionError } from '../cluster/exec.js';
import { AbortError } from '../errors.js';
import { goodBundle, writeBundle } from '../../../test/support/hostile-bundle.js';
import { injectWithRetry, withAgent } from './node-session.js';
import { planNode } from './plan.js';
import { bundleImage, digestOf, nodeFacts } from './test-fixtures.js';

let work: string;
let bundle: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-session-'));
  bundle = join(work, 'site.lading.tar');
  await writeBundle(bundle, goodBundle());
});
after(() => rm(work, { recursive: true, force: true }));

/** An API server whose kubelet never gives the agent pod a sandbox, for the reason `said`. */
function podsThatGetNoSandbox(said: k8s.CoreV1Event, phase = 'Pending') {
  const created: k8s.V1Pod[] = [];
  const deleted: string[] = [];
  const core = {
    createNamespacedPod: async ({ body }: { body: k8s.V1Pod }) => {
      created.push(body);
      return { ...body, metadata: { ...body.metadata, name: 'lading-agent-x' } };
    },
    readNamespacedPod: async () => ({ status: { phase } }),
    listNamespacedEvent: async () => ({ items: [said] }),
    deleteNamespacedPod: async ({ name }: { name: string }) => void deleted.push(name),
  };
  return { conn: { core } as unknown as ClusterConnection, created, deleted };
}

describe('withAgent on a node that can start no pod', () => {
  const pause = 'registry.k8s.io/pause:3.10';
  // After a reset the node status no longer lists the pause image; install recorded its name.
  const plan = () => planNode(nodeFacts({ name: 'crio-1', runtime: 'cri-o://1.34.0', images: [] }), [bundleImage(pause, digestOf('9')), bundleImage('example.com/app:1', digestOf('a'))]);

  it('says the sandbox image is gone, with the kubelet\'s words and the command for the node\'s console', async () => {
    const api = podsThatGetNoSandbox({ reason: 'FailedCreatePodSandBox', message: `Failed to create pod sandbox: rpc error: code = Unknown desc = error creating pod sandbox: ${pause}: image not known` } as k8s.CoreV1Event);
    const p = plan();
    const error = await withAgent({ conn: api.conn, namespace: 'lading-system', bundle }, p, () => undefined, async () => 'never', { recorded: pause, bundleImages: [pause] }).catch((e: AbortError) => e);
    assert.ok(error instanceof AbortError);
    assert.match(error.message, /^node crio-1 cannot start any pod: its sandbox image registry\.k8s\.io\/pause:3\.10 is gone \(the kubelet: FailedCreatePodSandBox: .*image not known\), so lading's agent cannot start there either$/);
    assert.equal(error.hint, `On the node's console, with site.lading.tar copied there: skopeo copy oci-archive:site.lading.tar:${pause} containers-storage:[overlay@/var/lib/lading/images+/run/lading/var-lib-lading-images]${pause}; then run lading check again.`);
    assert.equal(api.created[0]!.spec!.containers[0]!.image, pause, 'the agent tried the recorded sandbox image');
    assert.deepEqual(api.deleted, ['lading-agent-x'], 'the agent pod is removed');
    assert.equal(p.report.error, error.message, 'the node report says it');
  });

  it('a bundle without the sandbox image: how to get one; containerd: ctr import', async () => {
    const api = podsThatGetNoSandbox({ reason: 'FailedCreatePodSandBox', message: `failed to get sandbox image "${pause}": failed to pull image` } as k8s.CoreV1Event);
    const p = planNode(nodeFacts({ name: 'cd-1', images: [] }), [bundleImage('example.com/app:1', digestOf('a'))]);
    const error = (await withAgent({ conn: api.conn, namespace: 'ns', bundle }, p, () => undefined, async () => 'never', { recorded: pause, bundleImages: ['example.com/app:1'] }).catch((e: AbortError) => e)) as AbortError;
    assert.match(error.hint!, /^The bundle does not carry registry\.k8s\.io\/pause:3\.10: add it to the spec, lading create, copy the bundle to the node, and on its console: ctr -n k8s\.io images import site\.lading\.tar;/);
  });

  it('other reasons an agent does not start stay as they were', async () => {
    const api = podsThatGetNoSandbox({ reason: 'FailedMount', message: 'hostPath / not found' } as k8s.CoreV1Event, 'Failed');
    const p = planNode(nodeFacts(), [bundleImage('example.com/app:1', digestOf('a'))]);
    const error = (await withAgent({ conn: api.conn, namespace: 'ns' }, p, () => undefined, async () => 'never').catch((e: AbortError) => e)) as AbortError;
    assert.match(error.message, /^node node-a: agent pod lading-agent-x did not start \(phase Failed\); events: FailedMount: hostPath \/ not found$/);
  });
});

describe('injectWithRetry', () => {
  it('streams again after a dropped connection, counting each byte once; gives up after three attempts', async () => {
    let attempts = 0;
    const counted: number[] = [];
    const stages: string[] = [];
    const flaky = {
      inject: async (_reader: unknown, _images: unknown, _platform: string, { onBytes }: { onBytes: (n: number) => void }) => {
        attempts++;
        onBytes(100);
        if (attempts < 3) throw new ExecConnectionError('exec', 'cut');
        onBytes(50);
      },
    };
    await injectWithRetry(flaky, bundle, [], 'linux/amd64', { onBytes: (n) => counted.push(n), onStage: (s) => stages.push(s), retryDelayMs: 1 });
    assert.equal(attempts, 3);
    assert.deepEqual(counted, [100, 50], 'the 100 bytes sent again are not counted again');
    assert.deepEqual(stages, ['connection dropped; streaming again (attempt 2 of 3)', 'connection dropped; streaming again (attempt 3 of 3)']);

    attempts = 0;
    const dead = { inject: async () => void (attempts++, (() => { throw new ExecConnectionError('exec', 'cut'); })()) };
    await assert.rejects(injectWithRetry(dead, bundle, [], 'linux/amd64', { onBytes: () => undefined, onStage: () => undefined, retryDelayMs: 1 }), ExecConnectionError);
    assert.equal(attempts, 3);
  });

  it('a failure of the runtime itself is not retried', async () => {
    let attempts = 0;
    const refusing = { inject: async () => void (attempts++, (() => { throw new AbortError('ctr images import failed'); })()) };
    await assert.rejects(injectWithRetry(refusing, bundle, [], 'linux/amd64', { onBytes: () => undefined, onStage: () => undefined, retryDelayMs: 1 }), /ctr images import failed/);
    assert.equal(attempts, 1);
  });
});
