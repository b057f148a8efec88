// Measures the fixture builder and pusher:
//   bash scripts/with-node24 node --import tsx test/support/fixture-bench.ts [--mib 256] [--levels 0,1] [--push]
// Builds one random layer of --mib MiB per gzip level (uncached, in a temp dir),
// prints MiB/s and peak RSS; with --push, pushes the level-0 layer as an image
// to a fresh local registry and prints the upload rate, then a second push
// (all blobs present) and a cache hit.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildLayerBlob, forgetBuiltLayers, pushImage } from './images.js';
import { startRegistry } from './registry.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const mib = Number(arg('--mib', '256'));
const levels = arg('--levels', '0,1').split(',').map(Number);
const push = process.argv.includes('--push');
const size = mib * 1024 * 1024;
const cache = mkdtempSync(path.join(os.tmpdir(), 'lading-fixture-bench-'));

function track(): () => number {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

const fmt = (bytes: number, seconds: number) => `${(bytes / 1048576 / seconds).toFixed(0)} MiB/s`;

try {
  const baseline = process.memoryUsage().rss;
  console.log(`node ${process.version}, zlib ${process.versions.zlib}, ${os.cpus().length} cpus; baseline RSS ${(baseline / 1048576).toFixed(0)} MiB`);
  for (const level of levels) {
    const stop = track();
    const t = performance.now();
    const layer = await buildLayerBlob({ randomBytes: size, seed: `bench ${mib}`, gzipLevel: level }, { cache });
    const s = (performance.now() - t) / 1000;
    const peak = stop();
    console.log(
      `build ${mib} MiB random layer, gzip level ${level}: ${s.toFixed(2)} s, ${fmt(size, s)}, ` +
        `blob ${(layer.size / 1048576).toFixed(1)} MiB, peak RSS ${(peak / 1048576).toFixed(0)} MiB (+${((peak - baseline) / 1048576).toFixed(0)})`,
    );
  }
  forgetBuiltLayers();
  {
    const t = performance.now();
    const again = await buildLayerBlob({ randomBytes: size, seed: `bench ${mib}`, gzipLevel: levels[0] }, { cache });
    console.log(`cache hit: ${((performance.now() - t) / 1000).toFixed(3)} s (cached=${again.cached})`);
  }
  if (push) {
    const registry = await startRegistry();
    try {
      const spec = { repository: 'bench/big', tag: String(mib), layers: [{ randomBytes: size, seed: `bench ${mib}`, gzipLevel: levels[0] }] };
      const stop = track();
      let t = performance.now();
      const first = await pushImage(registry, spec, { cache });
      let s = (performance.now() - t) / 1000;
      console.log(`push to local registry: ${s.toFixed(2)} s, ${fmt(first.stats.bytesUploaded, s)}, peak RSS ${(stop() / 1048576).toFixed(0)} MiB`);
      t = performance.now();
      const second = await pushImage(registry, spec, { cache });
      s = (performance.now() - t) / 1000;
      console.log(`push again (blobs present): ${s.toFixed(3)} s, ${second.stats.skipped} skipped`);
    } finally {
      await registry.stop();
    }
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
}
