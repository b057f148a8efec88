/**
 * Injection of a 1 GiB image on the test cluster's containerd node (test/cluster, brought up if needed),
 * three ways, alternating, `--runs` times (default 3):
 *   - `lading install` with `--transport proxy` (the default: the agent's receiver through pods/proxy),
 *   - `lading install --transport exec` (exec stdin through the API server and the kubelet),
 *   - the peer: `ctr images import` of the same node archive run on the node directly
 *     (`test/cluster/ssh containerd -- ctr -n k8s.io images import -`, the archive on its standard input),
 *     as users run it (through containerd's transfer service, ctr 2.x's default), and with `--local`
 *     (ctr imports by itself: what lading asks the node's ctr for when it has the flag).
 * lading finds the node's runtime by itself: no node flag, only `--nodes` for that node. Prints each run,
 * then the medians: lading's import time (the stream alone, the receiver's start included), the whole
 * install, the speed ratios (direct time / lading's import time, against each form of the peer;
 * target >= 0.8) and lading's peak RSS.
 * After each proxy install the same install runs again, with nothing to send: the no-op install (target < 3 s).
 *
 *   bash scripts/with-node24 node --import tsx bench/inject.ts [--mib 1024] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LADING_BIN } from '../test/support/lading.js';
import { clusterUp, onNode, option, timed } from './cluster.js';
import { makeInjectImage } from './inject-image.js';

const MIB = option('--mib', 1024);
const RUNS = option('--runs', 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const cluster = await clusterUp();
  const { kubeconfig } = cluster;
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-inject-'));
  try {
    const { bundle, archive, plan, clean } = await makeInjectImage(work, MIB);
    const ctr = ['ctr', '-n', 'k8s.io'];

    const install = async (transport: 'proxy' | 'exec') => {
      await clean();
      const run = await timed(
        LADING_BIN,
        ['install', bundle, '--kubeconfig', kubeconfig, '--yes', '--json', '--transport', transport, '--nodes', `kubernetes.io/hostname=${cluster.node.hostnameLabel}`],
        { env: { ...process.env, CI: '1' } },
      );
      const report = JSON.parse(run.stdout);
      if (!report.ok) throw new Error(`install did not succeed: ${run.stdout}`);
      if (report.nodes.length !== 1 || report.nodes[0].node !== cluster.node.name) throw new Error(`install worked on ${report.nodes.map((n: { node: string }) => n.node).join(', ')}, not on ${cluster.node.name} alone`);
      const used = report.nodes[0].transport?.transport;
      if (used !== (transport === 'proxy' ? 'pods/proxy' : 'exec')) throw new Error(`--transport ${transport} streamed through ${used}: ${report.nodes[0].transport?.reason ?? ''}`);
      return { importSeconds: report.nodes[0].injectMs / 1000, wholeSeconds: run.seconds, rssMiB: run.rssKiB / 1024 };
    };
    // The image is on the node (the proxy install just put it there): the whole install again, nothing to send,
    // with the same proof as any install (the runtime's listing by digest, smoke pods that start without pulling).
    const again = async () => {
      const run = await timed(
        LADING_BIN,
        ['install', bundle, '--kubeconfig', kubeconfig, '--yes', '--json', '--nodes', `kubernetes.io/hostname=${cluster.node.hostnameLabel}`],
        { env: { ...process.env, CI: '1' } },
      );
      const report = JSON.parse(run.stdout);
      const node = report.nodes?.[0];
      if (!report.ok || node?.injectedBytes !== 0 || node.images.some((i: { outcome: string }) => i.outcome !== 'present') || !node.smoke?.ok) {
        throw new Error(`the second install did not find everything present and proven: ${run.stdout.slice(0, 3000)}`);
      }
      return run.seconds;
    };
    const direct = async (...flags: string[]) => {
      await clean();
      return (await timed(...onNode('containerd', [...ctr, 'images', 'import', ...flags, '-']), { stdinFile: archive })).seconds;
    };

    const mib = plan.bytes / 2 ** 20;
    const runs: Array<{ proxy: Awaited<ReturnType<typeof install>>; again: number; exec: Awaited<ReturnType<typeof install>>; direct: number; local: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      const proxy = await install('proxy');
      const row = { proxy, again: await again(), exec: await install('exec'), direct: await direct(), local: await direct('--local') };
      runs.push(row);
      console.log(
        `run ${i + 1}: lading (proxy) ${row.proxy.importSeconds.toFixed(2)} s, again with nothing to send ${row.again.toFixed(2)} s, lading (exec) ${row.exec.importSeconds.toFixed(2)} s, ctr import on the node ${row.direct.toFixed(2)} s, ctr import --local on the node ${row.local.toFixed(2)} s`,
      );
    }
    await clean();

    const peers = { 'ctr import': median(runs.map((r) => r.direct)), 'ctr import --local': median(runs.map((r) => r.local)) };
    const speed = (seconds: number) => `${seconds.toFixed(2)} s (${(mib / seconds).toFixed(0)} MiB/s)`;
    console.log(`image: ${mib.toFixed(0)} MiB (one layer of ${MIB} MiB), one node, median of ${RUNS} alternating runs`);
    console.log(['what', 'lading import (whole install)', 'peer run on the node', 'ratio (peer time / lading import time)', 'peak RSS'].join(' | '));
    for (const transport of ['proxy', 'exec'] as const) {
      const imp = median(runs.map((r) => r[transport].importSeconds));
      for (const [peer, seconds] of Object.entries(peers)) {
        console.log(
          [
            `inject, --transport ${transport}`,
            `${speed(imp)}; ${median(runs.map((r) => r[transport].wholeSeconds)).toFixed(2)} s`,
            `${peer}: ${speed(seconds)}`,
            (seconds / imp).toFixed(2),
            `lading ${Math.max(...runs.map((r) => r[transport].rssMiB)).toFixed(0)} MiB`,
          ].join(' | '),
        );
      }
    }
    console.log(`no-op install (the same bundle again, everything present and proven): ${median(runs.map((r) => r.again)).toFixed(2)} s (runs: ${runs.map((r) => r.again.toFixed(2)).join(', ')}; target < 3 s)`);
  } finally {
    await rm(work, { recursive: true, force: true });
    await cluster.done();
  }
}

await main();
