/**
 * Where injection's time goes, hop by hop, for one image of `--mib` MiB (default 1024) on the test
 * cluster's containerd node. Each line: wall time, and the CPU seconds every process on this machine
 * spent meanwhile (from /proc; the test cluster's API server, kubelet and runtime run here too):
 *   produce    lading's node archive from the bundle (every blob hashed) into nothing: the producer alone
 *   exec       the archive through exec stdin into `cat >/dev/null` on the node: the transport alone
 *   proxy      the same through the agent's receiver (pods/proxy)
 *   ctr        `ctr images import -` of the archive file run on the node: the runtime alone (the peer),
 *              through containerd's transfer service as ctr 2.x does by default
 *   ctr-local  the same with `--local` (ctr imports by itself), as lading asks the node's ctr to
 *   exec+ctr   the archive through exec into `ctr images import --local`, as `install --transport exec` does
 *   proxy+ctr  the same through the receiver, as `install` does
 *
 *   bash scripts/with-node24 node --import tsx bench/inject-hops.ts [--mib 1024]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BundleReader } from '../src/core/bundle/reader.js';
import { streamNodeArchive } from '../src/core/bundle/node-archive.js';
import { removeAgent, startAgent, type NodeAgent } from '../src/core/cluster/agent.js';
import { locateInjector } from '../src/core/configmap/injector-binary.js';
import { connectCluster } from '../src/core/cluster/kube.js';
import { ensureNamespace } from '../src/core/cluster/preflight.js';
import { clusterUp, onNode, option, timed } from './cluster.js';
import { makeInjectImage } from './inject-image.js';

const MIB = option('--mib', 1024);
const NAMESPACE = 'lading-bench-hops';

/** CPU seconds per process name, summed over every process now alive. */
function cpuByName(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Runs a hop and prints its wall time and who spent CPU on it (0.2 s or more; processes that ended during it are not seen). */
async function hop(label: string, work: () => Promise<unknown>): Promise<void> {
  const before = cpuByName();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const spent = [...cpuByName()]
    .map(([name, cpu]) => [name, cpu - (before.get(name) ?? 0)] as const)
    .filter(([, cpu]) => cpu >= 0.2)
    .sort((a, b) => b[1] - a[1])
    .map(([name, cpu]) => `${name} ${cpu.toFixed(1)}`);
  console.log(`${label.padEnd(10)} ${seconds.toFixed(2).padStart(6)} s   CPU s: ${spent.join(', ')}`);
}

async function main(): Promise<void> {
  const cluster = await clusterUp();
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-hops-'));
  const conn = connectCluster({ kubeconfig: cluster.kubeconfig });
  let agent: NodeAgent | undefined;
  try {
    const image = await makeInjectImage(work, MIB);
    await ensureNamespace(conn, NAMESPACE);
    const node = await conn.core.readNode({ name: cluster.node.name });
    agent = await startAgent(conn, { namespace: NAMESPACE, node, receiverProgram: (platform) => locateInjector(platform) });
    const reader = await BundleReader.open(image.bundle);
    const archive = () => streamNodeArchive(reader, image.plan);
    const onNodeScript = async (script: string, bulk: boolean) => {
      const result = await agent!.hostExec(script, { stdin: archive(), bulk });
      if (result.exitCode !== 0) throw new Error(`${script}: exit ${result.exitCode}: ${result.stderr}`);
    };
    const ctrImport = 'ctr --namespace k8s.io images import --local -';
    console.log(`${(image.plan.bytes / 2 ** 20).toFixed(0)} MiB node archive, containerd node ${cluster.node.name}`);
    try {
      await hop('produce', () => pipeline(archive(), new Writable({ write: (_chunk, _encoding, done) => done() })));
      await hop('exec', () => onNodeScript('cat >/dev/null', false));
      await hop('proxy', () => onNodeScript('cat >/dev/null', true));
      if (agent.transportUsed()?.transport !== 'pods/proxy') throw new Error(`the receiver was not used: ${agent.transportUsed()?.reason}`);
      await image.clean();
      await hop('ctr', () => timed(...onNode('containerd', ['ctr', '-n', 'k8s.io', 'images', 'import', '-']), { stdinFile: image.archive }));
      await image.clean();
      await hop('ctr-local', () => timed(...onNode('containerd', ['ctr', '-n', 'k8s.io', 'images', 'import', '--local', '-']), { stdinFile: image.archive }));
      await image.clean();
      await hop('exec+ctr', () => onNodeScript(ctrImport, false));
      await image.clean();
      await hop('proxy+ctr', () => onNodeScript(ctrImport, true));
      await image.clean();
    } finally {
      await reader.close();
    }
  } finally {
    if (agent) {
      await agent.close();
      await removeAgent(conn, NAMESPACE, agent.pod);
    }
    await conn.core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
    await cluster.done();
  }
}

await main();
