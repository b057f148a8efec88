/**
 * Injection of a 1 GiB image: `lading install` (through the API server: exec
 * stdin, paced) next to `ctr images import` of the same node archive run on
 * the node directly, on the test cluster (test/cluster, brought up if needed).
 * Prints both times, the speed ratio (direct time / lading's import time;
 * target >= 0.5) and lading's peak RSS.
 *
 *   bash scripts/with-node24 node --import tsx bench/inject.ts [--mib 1024]
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRegistry } from '../test/support/registry.js';
import { pushImage } from '../test/support/images.js';
import { LADING_BIN, specText } from '../test/support/lading.js';
import { BundleReader } from '../src/core/bundle/reader.js';
import { readDescription } from '../src/core/bundle/documents.js';
import { digestName, planNodeArchive, streamNodeArchive } from '../src/core/bundle/node-archive.js';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mibOption = process.argv.indexOf('--mib');
const MIB = mibOption >= 0 ? Number(process.argv[mibOption + 1]) : 1024;

async function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; rssKiB: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'LADING_BENCH_RSS=%M', command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`));
      resolve({ seconds: (performance.now() - started) / 1000, rssKiB: Number(/LADING_BENCH_RSS=(\d+)/.exec(stderr)?.[1] ?? 0), stdout });
    });
  });
}

function clusterEnv(kubeconfig: string): Record<string, string> {
  const file = join(dirname(kubeconfig), 'cluster.env');
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function main(): Promise<void> {
  const state = process.env.LADING_CLUSTER_STATE ?? '/tmp/lading-cluster';
  const wasUp = existsSync(join(state, 'kubeconfig'));
  const kubeconfig = (await exec('bash', [join(root, 'test/cluster/up')], { maxBuffer: 1 << 20 })).stdout.trim().split('\n').pop()!;
  const env = clusterEnv(kubeconfig);
  const socket = env.LADING_CONTAINERD_ADDRESS!;
  const ctr = env.LADING_CTR!;
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
      await timed(LADING_BIN, ['create', spec, '-o', join(work, 'bundle.tar'), '--no-tui'], { ...process.env, CI: '1', LADING_CACHE_DIR: join(work, 'cache') });
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
    const names = [ref, digestName(metadata.images[0]!)!];
    const ctrArgs = ['-a', socket, '-n', 'k8s.io'];
    const clean = () => exec(ctr, [...ctrArgs, 'images', 'rm', '--sync', ...names]).catch(() => undefined);

    await clean();
    await exec('sync');
    const lading = await timed(
      LADING_BIN,
      ['install', bundle, '--kubeconfig', kubeconfig, '--yes', '--json', '--containerd-socket', socket, '--ctr', ctr],
      { ...process.env, CI: '1' },
    );
    const report = JSON.parse(lading.stdout);
    if (!report.ok) throw new Error(`install did not succeed: ${lading.stdout}`);
    const injectSeconds = report.nodes[0].injectMs / 1000;

    await clean();
    await exec('sync');
    const direct = await timed(ctr, [...ctrArgs, 'images', 'import', archive]);
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
    if (!wasUp) await exec('bash', [join(root, 'test/cluster/down')]).catch(() => undefined);
  }
}

await main();
