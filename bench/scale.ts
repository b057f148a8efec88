/**
 * npm run bench, scale: specs of 500, 1,000 and 2,000 small images (one small layer of their own each)
 * from one local registry: lading create's wall time and peak RSS (time should grow linearly), and
 * lading inspect of the 2,000-image bundle (target under 1 s).
 * Options: --counts 500,1000,2000, --keep.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry } from '../test/support/registry.js';
import { pushImage } from '../test/support/images.js';
import { requireTool } from '../test/support/tools.js';
import { LADING_BIN, specText } from '../test/support/lading.js';

const exec = promisify(execFile);
const countsArg = process.argv[process.argv.indexOf('--counts') + 1];
const counts = (process.argv.includes('--counts') && countsArg ? countsArg : '500,1000,2000').split(',').map(Number);

async function measure(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; rssMiB: number }> {
  await exec('sync');
  const started = performance.now();
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'LADING_BENCH_RSS=%M', LADING_BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(err) : reject(new Error(`lading ${args[0]} failed (${code}): ${err.slice(-1500)}`))));
  });
  return { seconds: (performance.now() - started) / 1000, rssMiB: Number(/LADING_BENCH_RSS=(\d+)/.exec(stderr)?.[1] ?? 0) / 1024 };
}

async function main(): Promise<void> {
  requireTool('time', 'install it with `apt-get install time`');
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-scale-'));
  const registry = await startRegistry({ stateDir: join(work, 'registry') });
  try {
    const max = Math.max(...counts);
    const started = performance.now();
    const refs: string[] = [];
    for (let i = 0; i < max; i++) refs.push((await pushImage(registry, { repository: `scale/app${i}`, tag: '1', layers: [{ files: { id: `${i}\n` } }] })).ref);
    console.log(`pushed ${max} images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const env = { ...process.env, CI: '1' };
    const rows: string[] = [];
    let inspected = '';
    for (const n of counts) {
      const spec = join(work, `scale-${n}.yaml`);
      await writeFile(spec, specText(refs.slice(0, n), ['linux/amd64']));
      const bundle = join(work, `scale-${n}.lading.tar`);
      const m = await measure(['create', spec, '-o', bundle, '--no-tui'], { ...env, LADING_CACHE_DIR: join(work, `cache-${n}`) });
      rows.push(`create ${n} images | ${m.seconds.toFixed(2)} s | ${(m.seconds / n * 1000).toFixed(2)} ms per image | ${m.rssMiB.toFixed(0)} MiB peak RSS`);
      if (n === max) {
        const i = await measure(['inspect', bundle, '--json'], env);
        inspected = `inspect ${n} images | ${i.seconds.toFixed(2)} s | | ${i.rssMiB.toFixed(0)} MiB peak RSS`;
      }
    }
    console.log(['what', 'wall', 'per image', 'memory'].join(' | '));
    for (const row of [...rows, inspected]) console.log(row);
  } finally {
    await registry.stop();
    if (!process.argv.includes('--keep')) await rm(work, { recursive: true, force: true });
  }
}

await main();
