/**
 * npm run bench: lading next to its peers on the same data, in one run.
 *
 *   pull    five images sharing a 256 MiB base layer plus one 1 GiB image, from one local registry:
 *           skopeo copy (each image into one shared OCI layout, then tar, i.e. one archive) vs lading create,
 *           measured in the order lading, skopeo, skopeo, lading and averaged
 *   floor   the machine's own limit for create, measured in the same run: every unique blob fetched at once
 *           to /dev/null (curl), one openssl sha256 pass over the bundle, the bundle's size written with dd;
 *           lading's cold and warm create as ratios of it
 *   verify  lading verify vs OpenSSL's sha256 (openssl dgst -sha256) over the same bundle file
 *   delta   the same set with one image's own 8 MiB layer changed, create --since the first bundle: its size
 *
 * Prints wall times, ratios (lading / peer; < 1.0 means lading is faster) and peak RSS.
 * Options: --base-mib N (256), --big-mib N (1024), --keep (leave the work dir), --verbose (show the tools' output).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry } from '../test/support/registry.js';
import { pushImage, type ImageSpec } from '../test/support/images.js';
import { requireTool } from '../test/support/tools.js';
import { LADING_BIN, specText } from '../test/support/lading.js';

const exec = promisify(execFile);

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const BASE_MIB = option('--base-mib', 256);
const BIG_MIB = option('--big-mib', 1024);
const MiB = 1 << 20;

interface Measured {
  seconds: number;
  peakRssKiB: number;
}

/**
 * Each tool starts from the same state: dirty pages of the previous step are
 * written back first, so neither pays for the other's writeback. The
 * registry's blobs stay in the page cache (they were just pushed) for both:
 * the comparison is of the clients, not of this machine's disk.
 */
async function settle(): Promise<void> {
  await exec('sync');
}

/** Runs a command under GNU time for wall time and peak RSS. */
async function measure(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Measured> {
  const started = performance.now();
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const verbose = process.argv.includes('--verbose');
    const child = spawn('/usr/bin/time', ['-f', 'LADING_BENCH_RSS=%M', command, ...args], { env, stdio: ['ignore', verbose ? 'inherit' : 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}):\n${result.stderr.slice(-2000)}`);
  const rss = Number(/LADING_BENCH_RSS=(\d+)/.exec(result.stderr)?.[1] ?? 0);
  return { seconds, peakRssKiB: rss };
}

const fmt = (s: number) => `${s.toFixed(2)} s`;
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

async function main(): Promise<void> {
  requireTool('/usr/bin/time'.split('/').pop()!, 'install it with `apt-get install time`');
  const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-'));
  const registry = await startRegistry({ stateDir: join(work, 'registry') });
  try {
    const base = { randomBytes: BASE_MIB * MiB, seed: 'bench-base' };
    const images: ImageSpec[] = [];
    for (let i = 1; i <= 5; i++) {
      images.push({ repository: `bench/app${i}`, tag: '1.0', layers: [base, { randomBytes: 8 * MiB, seed: `bench-app-${i}` }] });
    }
    images.push({ repository: 'bench/big', tag: '1.0', layers: [{ randomBytes: BIG_MIB * MiB, seed: 'bench-big' }] });
    console.log(`Pushing ${images.length} images (5 x (${BASE_MIB} MiB shared + 8 MiB) + ${BIG_MIB} MiB) to ${registry.host} ...`);
    const pushed = [];
    for (const image of images) pushed.push(await pushImage(registry, image));
    const refs = pushed.map((p) => p.ref);

    // Peer: skopeo copies each image into one OCI layout (it dedups blobs there), then one tar.
    const runSkopeo = async (round: number) => {
      const layout = join(work, `skopeo-layout-${round}`);
      const archive = join(work, `skopeo-${round}.tar`);
      await settle();
      const started = performance.now();
      let rss = 0;
      for (const ref of refs) {
        const m = await measure(skopeo, ['copy', '--src-tls-verify=false', '--quiet', `docker://${ref}`, `oci:${layout}:${ref}`]);
        rss = Math.max(rss, m.peakRssKiB);
      }
      await measure('tar', ['-cf', archive, '-C', layout, '.']);
      const seconds = (performance.now() - started) / 1000;
      const bytes = (await stat(archive)).size;
      await rm(layout, { recursive: true, force: true });
      await rm(archive, { force: true });
      return { seconds, peakRssKiB: rss, bytes };
    };

    // lading: one create, cold cache.
    const specFile = join(work, 'lading.yaml');
    await writeFile(specFile, specText(refs, ['linux/amd64']));
    const bundle = join(work, 'bench.lading.tar');
    const runLading = async (round: number) => {
      await rm(bundle, { force: true });
      await settle();
      const m = await measure(LADING_BIN, ['create', specFile, '-o', bundle, '--no-tui'], {
        ...process.env,
        LADING_CACHE_DIR: join(work, `cache-${round}`),
        CI: '1',
      });
      await rm(join(work, `cache-${round}`), { recursive: true, force: true });
      return m;
    };

    // A B B A: neither tool always runs first (page cache and writeback state differ with the order).
    const l1 = await runLading(1);
    const s1 = await runSkopeo(1);
    const s2 = await runSkopeo(2);
    const l2 = await runLading(2);
    const lading = { seconds: (l1.seconds + l2.seconds) / 2, peakRssKiB: Math.max(l1.peakRssKiB, l2.peakRssKiB) };
    const skopeoSeconds = (s1.seconds + s2.seconds) / 2;
    const skopeoRss = Math.max(s1.peakRssKiB, s2.peakRssKiB);
    console.log(`lading create: ${fmt(l1.seconds)}, ${fmt(l2.seconds)}; skopeo copy + tar: ${fmt(s1.seconds)}, ${fmt(s2.seconds)}`);

    await settle();
    const verify = await measure(LADING_BIN, ['verify', bundle, '--no-tui'], { ...process.env, CI: '1' });
    await settle();
    const sha = await measure('openssl', ['dgst', '-sha256', bundle]);

    const bundleBytes = (await stat(bundle)).size;
    const skopeoBytes = s1.bytes;

    // The machine's floor for create, in this run: every unique blob fetched at once to /dev/null, one
    // OpenSSL sha256 pass over the same bytes, and the bundle's size written to the same disk.
    const curl = requireTool('curl', 'install it with `apt-get install curl`');
    const unique = new Map<string, string>();
    for (const p of pushed) for (const layer of p.layerDigests) unique.set(layer, `${registry.url}/v2/${p.repository}/blobs/${layer}`);
    await settle();
    let started = performance.now();
    await Promise.all([...unique.values()].map((url) => exec(curl, ['-sf', '-o', '/dev/null', url])));
    const fetchSeconds = (performance.now() - started) / 1000;
    const floorHash = (await measure('openssl', ['dgst', '-sha256', bundle])).seconds;
    await settle();
    started = performance.now();
    await exec('dd', ['if=/dev/zero', `of=${join(work, 'floor.bin')}`, 'bs=4M', `count=${Math.ceil(bundleBytes / (4 * MiB))}`]);
    const writeSeconds = (performance.now() - started) / 1000;
    await rm(join(work, 'floor.bin'), { force: true });
    const floor = fetchSeconds + floorHash + writeSeconds;
    console.log(`floor: fetch ${fmt(fetchSeconds)} + sha256 ${fmt(floorHash)} + write ${fmt(writeSeconds)} = ${fmt(floor)}`);

    // Warm: the cache of one more cold run, used again (what a re-run or a second spec over the same images costs).
    await measure(LADING_BIN, ['create', specFile, '-o', bundle, '--force', '--no-tui'], { ...process.env, LADING_CACHE_DIR: join(work, 'cache-warm'), CI: '1' });
    await settle();
    const warm = await measure(LADING_BIN, ['create', specFile, '-o', bundle, '--force', '--no-tui'], { ...process.env, LADING_CACHE_DIR: join(work, 'cache-warm'), CI: '1' });

    // An update: the same six images with app1's own 8 MiB layer changed, as a delta against the bundle above.
    const changed = await pushImage(registry, { repository: 'bench/app1', tag: '1.1', layers: [base, { randomBytes: 8 * MiB, seed: 'bench-app-1-v2' }] });
    const deltaSpec = join(work, 'delta.yaml');
    await writeFile(deltaSpec, specText([changed.ref, ...refs.slice(1)], ['linux/amd64']));
    const deltaBundle = join(work, 'bench-delta.lading.tar');
    await settle();
    const delta = await measure(LADING_BIN, ['create', deltaSpec, '-o', deltaBundle, '--since', bundle, '--no-tui'], { ...process.env, LADING_CACHE_DIR: join(work, 'cache-delta'), CI: '1' });
    const deltaBytes = (await stat(deltaBundle)).size;
    const rows: Array<[string, string, string, string, string]> = [
      ['create, cold cache (mean of 2) against the floor', `lading create ${fmt(lading.seconds)}`, `floor ${fmt(floor)}`, (lading.seconds / floor).toFixed(2), `lading ${mib(lading.peakRssKiB)}`],
      ['create, warm cache, against the floor', `lading create ${fmt(warm.seconds)}`, `floor ${fmt(floor)}`, (warm.seconds / floor).toFixed(2), `lading ${mib(warm.peakRssKiB)}`],
      ['pull 6 images into one archive (mean of 2)', `lading create ${fmt(lading.seconds)}`, `skopeo copy + tar ${fmt(skopeoSeconds)}`, (lading.seconds / skopeoSeconds).toFixed(2), `lading ${mib(lading.peakRssKiB)} / skopeo ${mib(skopeoRss)}`],
      ['verify the bundle', `lading verify ${fmt(verify.seconds)}`, `openssl dgst -sha256 ${fmt(sha.seconds)}`, (verify.seconds / sha.seconds).toFixed(2), `lading ${mib(verify.peakRssKiB)}`],
      ['update with one 8 MiB layer changed (create --since)', `delta ${(deltaBytes / MiB).toFixed(1)} MiB in ${fmt(delta.seconds)}`, `whole bundle ${(bundleBytes / MiB).toFixed(0)} MiB`, (deltaBytes / bundleBytes).toFixed(4), `lading ${mib(delta.peakRssKiB)}`],
    ];
    console.log('');
    console.log(`archive sizes: lading ${(bundleBytes / MiB).toFixed(0)} MiB, skopeo ${(skopeoBytes / MiB).toFixed(0)} MiB`);
    console.log(['what', 'lading', 'peer', 'ratio (lading/peer)', 'peak RSS'].join(' | '));
    for (const row of rows) console.log(row.join(' | '));
  } finally {
    await registry.stop();
    if (!process.argv.includes('--keep')) await rm(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

await main();
