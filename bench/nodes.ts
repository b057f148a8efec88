/**
 * npm run bench, many nodes: preflight and plan of `lading install --dry-run` against 10, 50 and 100
 * registered nodes (Node objects created in the test cluster's API server, with the status a containerd
 * node reports, but no kubelet: their summary API refuses at once, as a kubelet that is down would).
 * Prints the wall time of each run (target for 100 nodes: under 5 s) and lading's peak RSS; the nodes
 * are cordoned and tainted while they exist, and deleted at the end.
 *
 *   bash scripts/with-node24 node --import tsx bench/nodes.ts [--counts 10,50,100]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ensureSeedBundle } from '../fixtures/demo/seed.js';
import { LADING_BIN } from '../test/support/lading.js';
import { clusterUp, timed } from './cluster.js';

const LABEL = 'lading.dev/bench';
const countsArg = process.argv[process.argv.indexOf('--counts') + 1];
const counts = (process.argv.includes('--counts') && countsArg ? countsArg : '10,50,100').split(',').map(Number);

function fakeNode(name: string): k8s.V1Node {
  return {
    metadata: { name, labels: { [LABEL]: 'nodes', 'kubernetes.io/hostname': name, 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
    spec: { unschedulable: true, taints: [{ key: LABEL, value: 'nodes', effect: 'NoSchedule' }] },
  };
}

/** What a containerd node's kubelet reports; the kubelet port is 1, where nothing listens. */
function fakeStatus(node: k8s.V1Node, index: number): k8s.V1Node {
  const now = new Date();
  return {
    ...node,
    status: {
      nodeInfo: {
        architecture: 'amd64',
        operatingSystem: 'linux',
        containerRuntimeVersion: 'containerd://2.2.9',
        kubeletVersion: 'v1.34.4',
        kubeProxyVersion: '',
        kernelVersion: '6.1.0',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        bootID: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
        machineID: `bench${index}`,
        systemUUID: `bench-${index}`,
      },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'bench node', lastHeartbeatTime: now, lastTransitionTime: now }],
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: 1 } },
      images: [{ names: ['registry.k8s.io/pause:3.10'], sizeBytes: 320_000 }],
    },
  };
}

async function main(): Promise<void> {
  const cluster = await clusterUp();
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-nodes-'));
  const removeNodes = () => core.deleteCollectionNode({ labelSelector: `${LABEL}=nodes` }).catch(() => undefined);
  try {
    const { path: bundle } = await ensureSeedBundle(join(work, 'seed'));
    console.log('registered nodes (no kubelets) | lading install --dry-run (verify, preflight, plan) | peak RSS');
    for (const count of counts) {
      await removeNodes();
      for (let i = 0; i < count; i++) {
        const node = fakeNode(`lading-bench-node-${String(i).padStart(3, '0')}`);
        await core.createNode({ body: node });
        // Without a resourceVersion: an unconditional update, whatever the node controller changed meanwhile.
        await core.replaceNodeStatus({ name: node.metadata!.name!, body: fakeStatus(node, i) });
      }
      const run = await timed(LADING_BIN, ['install', bundle, '--kubeconfig', cluster.kubeconfig, '--nodes', `${LABEL}=nodes`, '--dry-run', '--json'], {
        env: { ...process.env, CI: '1' },
      });
      const report = JSON.parse(run.stdout) as { ok: boolean; dryRun: boolean; nodes: unknown[] };
      if (!report.ok || !report.dryRun || report.nodes.length !== count) throw new Error(`the dry run planned ${report.nodes?.length} nodes, not ${count}: ${run.stdout.slice(0, 2000)}`);
      console.log(`${count} | ${run.seconds.toFixed(2)} s | ${(run.rssKiB / 1024).toFixed(0)} MiB`);
    }
  } finally {
    await removeNodes();
    await rm(work, { recursive: true, force: true });
    await cluster.done();
  }
}

await main();
