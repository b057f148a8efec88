/**
 * npm run bench, two nodes: the six-image set (five images sharing a 128 MiB base layer with 8 MiB of
 * their own each, plus one 512 MiB image) installed by `lading install` on the test cluster's containerd
 * node alone, its CRI-O node alone, and both at once, alternating, `--runs` times (default 3). What lading
 * put on the nodes is removed before each install. Prints the medians of the whole install's wall time,
 * the ratio of both nodes to the slower single node (target <= 1.3), the CPU seconds lading, the API
 * server (the path every node's stream shares) and the whole machine spent in each, and how busy the
 * machine's cores were. On this test cluster both nodes share the machine's cores with each other, the API
 * server and lading, which a real cluster's nodes do not: the bench prints the floor that sets, the two
 * single installs' CPU seconds spread over every core (the soonest both could end here). `--machines`
 * gives each node, the control plane and lading a machine of its own for the whole bench (bench/machines.ts:
 * an equal CPU cap each, adding up to the machine's cores), so that what the nodes share is what they share
 * on a real cluster: the API server's path.
 * On the containerd node it also sets lading's import of the set (the stream alone) against `ctr images
 * import` of the same node archive run on the node, as users run it and with `--local`.
 *
 *   bash scripts/with-node24 node --import tsx bench/two-nodes.ts [--runs 3] [--base-mib 128] [--big-mib 512] [--machines]
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { pushImage, type ImageSpec } from '../test/support/images.js';
import { LADING_BIN, specText } from '../test/support/lading.js';
import { BundleReader } from '../src/core/bundle/reader.js';
import { readDescription } from '../src/core/bundle/documents.js';
import { planNodeArchive, streamNodeArchive } from '../src/core/bundle/node-archive.js';
import { clusterUp, exec, nodeRun, onNode, option, timed } from './cluster.js';
import { splitIntoMachines, type Machines } from './machines.js';

const RUNS = option('--runs', 3);
const BASE_MIB = option('--base-mib', 128);
const BIG_MIB = option('--big-mib', 512);
const MiB = 1 << 20;
/** lading's CRI-O store on the nodes (install's --image-store default) and its run directory. */
const STORE = '/var/lib/lading/images';
const STORE_RUNROOT = '/run/lading/var-lib-lading-images';

const MACHINES = process.argv.includes('--machines');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds the whole machine has been busy (every core; /proc/stat's first line, idle and iowait left out). */
function machineBusySeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const cluster = await clusterUp();
  const crio = cluster.env.LADING_NODE_CRIO_NAME;
  if (!crio) throw new Error('this bench needs the two-node test cluster: bash test/cluster/down && bash test/cluster/up (both nodes by default)');
  const apiserverPid = Number(readFileSync(join(cluster.state, 'run', 'kube-apiserver.pid'), 'utf8').trim());
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-two-'));
  const count = cpus().length;
  let machines: Machines | undefined;
  try {
    if (MACHINES) {
      machines = splitIntoMachines(cluster.state, count);
      // Ctrl-C would skip the finally below and leave the nodes and the control plane capped.
      const split = machines;
      process.once('SIGINT', () => {
        split.restore();
        process.exit(130);
      });
      console.log(`machines of their own: each node, the control plane and lading capped at ${machines.cores} of this machine's ${count} cores`);
    }
    const base = { randomBytes: BASE_MIB * MiB, seed: 'bench-base' };
    const images: ImageSpec[] = [];
    for (let i = 1; i <= 5; i++) images.push({ repository: `bench/app${i}`, tag: '1.0', layers: [base, { randomBytes: 8 * MiB, seed: `bench-app-${i}` }] });
    images.push({ repository: 'bench/big', tag: '1.0', layers: [{ randomBytes: BIG_MIB * MiB, seed: 'bench-big' }] });
    const bundle = join(work, 'six.lading.tar');
    const registry = await startRegistry({ stateDir: join(work, 'registry') });
    try {
      const refs = [];
      for (const image of images) refs.push((await pushImage(registry, image)).ref);
      await writeFile(join(work, 'lading.yaml'), specText(refs, ['linux/amd64']));
      await timed(LADING_BIN, ['create', join(work, 'lading.yaml'), '-o', bundle, '--no-tui'], { env: { ...process.env, CI: '1', LADING_CACHE_DIR: join(work, 'cache') } });
    } finally {
      await registry.stop();
    }

    // The containerd node's archive of the set, as a file: what the peer reads on the node.
    const archive = join(work, 'node-archive.tar');
    const reader = await BundleReader.open(bundle);
    try {
      await pipeline(streamNodeArchive(reader, planNodeArchive((await readDescription(reader)).metadata.images, 'linux/amd64')), createWriteStream(archive));
    } finally {
      await reader.close();
    }

    const clean = async () => {
      await nodeRun('containerd', ['sh', '-c', 'ctr -n k8s.io images rm --sync $(ctr -n k8s.io images ls -q | grep -E "/bench/|^sha256:") >/dev/null 2>&1; true']);
      await nodeRun('crio', ['sh', '-c', `podman --root ${STORE} --runroot ${STORE_RUNROOT} rmi -a -f >/dev/null 2>&1; true`]);
      await exec('sync');
    };
    const install = async (selector: string | undefined, expected: number) => {
      await clean();
      const cpuBefore = cpuSeconds(apiserverPid);
      const busyBefore = machineBusySeconds();
      const args = ['install', bundle, '--kubeconfig', cluster.kubeconfig, '--yes', '--json', ...(selector ? ['--nodes', selector] : [])];
      const run = await timed(...(machines ? machines.onLadingMachine(LADING_BIN, args) : ([LADING_BIN, args] as const)), {
        env: { ...process.env, CI: '1' },
      });
      const report = JSON.parse(run.stdout) as { ok: boolean; nodes: Array<{ node: string; injectedBytes: number; injectMs: number; transport?: { transport: string } }> };
      if (!report.ok || report.nodes.length !== expected) throw new Error(`install on ${selector ?? 'every node'} did not succeed: ${run.stdout.slice(0, 3000)}`);
      const busy = machineBusySeconds() - busyBefore;
      return {
        seconds: run.seconds,
        importSeconds: report.nodes[0]!.injectMs / 1000,
        apiserverCpu: cpuSeconds(apiserverPid) - cpuBefore,
        ladingCpu: run.cpuSeconds,
        machineCpu: busy,
        machineBusy: busy / (run.seconds * cpus().length),
        rssMiB: run.rssKiB / 1024,
        transports: report.nodes.map((n) => n.transport?.transport ?? '-').join(', '),
      };
    };

    const direct = async (...flags: string[]) => {
      await clean();
      const [command, args] = onNode('containerd', ['ctr', '-n', 'k8s.io', 'images', 'import', ...flags, '-']);
      return (await timed(...(machines ? machines.onNodeMachine('containerd', command, args) : ([command, args] as const)), { stdinFile: archive })).seconds;
    };

    const rows: Record<'containerd' | 'crio' | 'both', Array<Awaited<ReturnType<typeof install>>>> = { containerd: [], crio: [], both: [] };
    const peers: Record<'ctr import' | 'ctr import --local', number[]> = { 'ctr import': [], 'ctr import --local': [] };
    for (let i = 0; i < RUNS; i++) {
      peers['ctr import'].push(await direct());
      peers['ctr import --local'].push(await direct('--local'));
      rows.containerd.push(await install(`kubernetes.io/hostname=${cluster.node.hostnameLabel}`, 1));
      rows.crio.push(await install(`kubernetes.io/hostname=${cluster.env.LADING_NODE_CRIO_HOSTNAME ?? crio}`, 1));
      rows.both.push(await install(undefined, 2));
      console.log(`run ${i + 1}: containerd ${rows.containerd.at(-1)!.seconds.toFixed(2)} s (import ${rows.containerd.at(-1)!.importSeconds.toFixed(2)} s; ctr import on the node ${peers['ctr import'].at(-1)!.toFixed(2)} s, --local ${peers['ctr import --local'].at(-1)!.toFixed(2)} s), CRI-O ${rows.crio.at(-1)!.seconds.toFixed(2)} s, both ${rows.both.at(-1)!.seconds.toFixed(2)} s`);
    }
    await clean();

    console.log(`six-image set: 5 x (${BASE_MIB} MiB shared + 8 MiB) + ${BIG_MIB} MiB, whole install, median of ${RUNS} alternating runs${machines ? `, each part on a machine of its own (${machines.cores} cores)` : ''}`);
    console.log(`nodes | lading install | CPU: lading, API server, the machine | machine busy (${cpus().length} cores) | streamed through | peak RSS`);
    for (const [what, list] of Object.entries(rows)) {
      console.log(
        `${what} | ${median(list.map((r) => r.seconds)).toFixed(2)} s | ${median(list.map((r) => r.ladingCpu)).toFixed(1)} s, ${median(list.map((r) => r.apiserverCpu)).toFixed(1)} s, ${median(list.map((r) => r.machineCpu)).toFixed(1)} s | ${(100 * median(list.map((r) => r.machineBusy))).toFixed(0)} % | ${list[0]!.transports} | ${Math.max(...list.map((r) => r.rssMiB)).toFixed(0)} MiB`,
      );
    }
    const imported = median(rows.containerd.map((r) => r.importSeconds));
    for (const [peer, times] of Object.entries(peers)) {
      console.log(`containerd node, the set's import: lading ${imported.toFixed(2)} s, ${peer} on the node ${median(times).toFixed(2)} s: ratio (peer time / lading's) ${(median(times) / imported).toFixed(2)} (target >= 0.8)`);
    }
    const single = Math.max(median(rows.containerd.map((r) => r.seconds)), median(rows.crio.map((r) => r.seconds)));
    const both = median(rows.both.map((r) => r.seconds));
    console.log(`both nodes / the slower single node: ${(both / single).toFixed(2)} (target <= 1.3)`);
    if (!machines) {
      // Where the nodes share the machine's cores, both installs cannot end sooner than the CPU both single
      // installs used, spread over every core: the lowest ratio this machine allows.
      const floor = (median(rows.containerd.map((r) => r.machineCpu)) + median(rows.crio.map((r) => r.machineCpu))) / count;
      console.log(`the machine's floor for both: the CPU seconds of the two single installs / ${count} cores = ${floor.toFixed(2)} s: ratio ${(floor / single).toFixed(2)} at best; both / that floor ${(both / floor).toFixed(2)}`);
    }
  } finally {
    machines?.restore();
    await rm(work, { recursive: true, force: true });
    await cluster.done();
  }
}

await main();
