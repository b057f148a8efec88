// The air-gapped half of `npm run demo -- --cluster`, on the project's own test cluster (test/cluster):
// `lading install` of the demo bundle in the live view, then one image taken off the containerd node by
// hand and a hard reset of that node (power cut), then `lading check --repair`, which names the reboot and
// the lost image and streams back only that. A cluster already running is used and left running; one the
// demo started is stopped again. Every step runs bin/lading or the cluster's own scripts, as a user would.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../fixtures/demo/spec.js';

const LADING = path.join(REPO_ROOT, 'bin', 'lading');
const CLUSTER = path.join(REPO_ROOT, 'test', 'cluster');

/** Runs a command on this terminal (or with its stdout captured) and gives its exit code. */
function runHere(command: string, args: string[], capture = false): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 130 : 1), stdout }));
  });
}

function say(line: string): void {
  console.log(`\ndemo: ${line}\n`);
}

export async function clusterHalf(bundle: string): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('demo --cluster: the test cluster runs containerd and the kubelet on this machine: run it as root');
    return 2;
  }
  const state = process.env.LADING_CLUSTER_STATE ?? '/tmp/lading-cluster';
  const reused = existsSync(path.join(state, 'cluster.env'));
  say(`bash test/cluster/up  (${reused ? 'the running cluster' : 'two nodes, containerd and CRI-O; the first run builds them from Go modules'})`);
  const up = await runHere('bash', [path.join(CLUSTER, 'up')], true);
  if (up.code !== 0) return up.code;
  const kubeconfig = up.stdout.trim().split('\n').at(-1)!;
  // Without a terminal nobody can answer the plan's question.
  const yes = process.stdin.isTTY ? [] : ['--yes'];
  try {
    say('the air-gapped side: install the bundle on every node, through the Kubernetes API');
    const installed = await runHere(LADING, ['install', bundle, '--kubeconfig', kubeconfig, ...yes]);
    if (installed.code !== 0) return installed.code;

    const inspected = await runHere(LADING, ['inspect', bundle, '--json'], true);
    const victim = (JSON.parse(inspected.stdout) as { images: Array<{ name: string }> }).images[0]!.name;
    const repository = victim.replace(/[:@][^/]*$/, '');
    say(`an accident on node containerd: ${victim} removed by hand (every name it has there), then a hard reset of the node`);
    const removed = await runHere('bash', [path.join(CLUSTER, 'ssh'), 'containerd', 'sh', '-c', `ctr -n k8s.io images ls -q | grep -E '^${repository.replace(/[.]/g, '\\.')}[:@]' | xargs -r ctr -n k8s.io images rm --sync`]);
    if (removed.code !== 0) return removed.code;
    const reset = await runHere('bash', [path.join(CLUSTER, 'reset'), 'containerd']);
    if (reset.code !== 0) return reset.code;

    say('lading check --repair: what survived the reset, what was lost, and only that streamed back');
    const repaired = await runHere(LADING, ['check', bundle, '--repair', '--kubeconfig', kubeconfig, ...yes]);
    return repaired.code;
  } finally {
    if (!reused) {
      say('bash test/cluster/down  (the demo started the cluster)');
      await runHere('bash', [path.join(CLUSTER, 'down')]);
    }
  }
}
