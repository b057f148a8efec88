/**
 * Injection of a 1 GiB image: `lading install` (through the API server: exec
 * stdin, paced) next to `ctr images import` of the same node archive run on
 * the node directly (`test/cluster/ssh containerd -- ctr -n k8s.io images
 * import -`, the archive on its standard input), on the test cluster's
 * containerd node (test/cluster, brought up if needed). lading finds the
 * node's runtime by itself: no node flag, only `--nodes` for that node.
 * Prints both times, the speed ratio (direct time / lading's import time;
 * target >= 0.5) and lading's peak RSS.
 *
 *   bash scripts/with-node24 node --import tsx bench/inject.ts [--mib 1024]
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startRegistry } from '../test/support/registry.js';
import { pushImage } from '../test/support/images.js';
import { LADING_BIN, specText } from '../test/support/lading.js';
import { BundleReader } from '../src/core/bundle/reader.js';
import { readDescription } from '../src/core/bundle/documents.js';
import { digestName, planNodeArchive, streamNodeArchive } from '../src/core/bundle/node-archive.js';
import { clusterUp, exec, nodeRun, onNode, option, timed } from './cluster.js';

const MIB = option('--mib', 1024);

async function main(): Promise<void> {
  const cluster = await clusterUp();
  const { kubeconfig } = cluster;
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-inject-'));
  try {
    const binary = join(work, 'app');
    await writeFile(`${binary}.c`, '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await exec('gcc', ['-static', '-Os', '-o', binary, `${binary}.c`]);
    const registry = await startRegistry();
    let ref: string;
    try {
      ref = (
        await pushImage(registry, {
          repository: 'bench/inject',
          tag: '1.0',
          layers: [{ files: { app: { content: readFileSync(binary), mode: 0o755 } } }, { randomBytes: MIB << 20, seed: 'bench-inject' }],
          config: { Entrypoint: ['/app'] },
        })
      ).ref;
      const spec = join(work, 'lading.yaml');
      await writeFile(spec, specText([ref], ['linux/amd64']));
      await timed(LADING_BIN, ['create', spec, '-o', join(work, 'bundle.tar'), '--no-tui'], { env: { ...process.env, CI: '1', LADING_CACHE_DIR: join(work, 'cache') } });
    } finally {
      await registry.stop();
    }
    const bundle = join(work, 'bundle.tar');
    const reader = await BundleReader.open(bundle);
    const { metadata } = await readDescription(reader);
    const plan = planNodeArchive(metadata.images, 'linux/amd64');
    const archive = join(work, 'node-archive.tar');
    await pipeline(streamNodeArchive(reader, plan), createWriteStream(archive));
    await reader.close();
    // every name the image has on the node: containerd's CRI also names it by its config digest (the image
    // ID), and content under any name left there would make the next import find its layers present
    const image = metadata.images[0]!;
    const names = [ref, digestName(image)!, ...new Set(image.platforms.map((p) => p.config.digest))];
    const ctr = ['ctr', '-n', 'k8s.io'];
    const clean = () => nodeRun('containerd', [...ctr, 'images', 'rm', '--sync', ...names]).catch(() => undefined);

    await clean();
    await exec('sync');
    const lading = await timed(
      LADING_BIN,
      ['install', bundle, '--kubeconfig', kubeconfig, '--yes', '--json', '--nodes', `kubernetes.io/hostname=${cluster.node.hostnameLabel}`],
      { env: { ...process.env, CI: '1' } },
    );
    const report = JSON.parse(lading.stdout);
    if (!report.ok) throw new Error(`install did not succeed: ${lading.stdout}`);
    if (report.nodes.length !== 1 || report.nodes[0].node !== cluster.node.name) throw new Error(`install worked on ${report.nodes.map((n: { node: string }) => n.node).join(', ')}, not on ${cluster.node.name} alone`);
    const injectSeconds = report.nodes[0].injectMs / 1000;

    await clean();
    await exec('sync');
    const direct = await timed(...onNode('containerd', [...ctr, 'images', 'import', '-']), { stdinFile: archive });
    await clean();

    const mib = plan.bytes / 2 ** 20;
    console.log(`image: ${(plan.bytes / 2 ** 20).toFixed(0)} MiB (one layer of ${MIB} MiB), one node`);
    console.log(['what', 'lading', 'peer', 'ratio (peer time / lading time)', 'peak RSS'].join(' | '));
    console.log(
      [
        'inject through the API server',
        `lading import ${injectSeconds.toFixed(2)} s (${(mib / injectSeconds).toFixed(0)} MiB/s); whole install ${lading.seconds.toFixed(2)} s`,
        `ctr import on the node ${direct.seconds.toFixed(2)} s (${(mib / direct.seconds).toFixed(0)} MiB/s)`,
        (direct.seconds / injectSeconds).toFixed(2),
        `lading ${(lading.rssKiB / 1024).toFixed(0)} MiB`,
      ].join(' | '),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
    await cluster.done();
  }
}

await main();
