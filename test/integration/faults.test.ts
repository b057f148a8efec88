/**
 * Faults between lading and a real registry (through a fault-injecting proxy):
 * transient errors are retried without counting bytes twice, persistent ones
 * end in a clear error, and Ctrl-C leaves nothing half-written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { runLading, specText } from '../support/lading.js';

let work: string;
let registry: TestRegistry;
let image: PushedImage;
const LAYER = 24 << 20;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-faults-'));
  registry = await startRegistry();
  image = await pushImage(registry, { repository: 'faults/app', tag: '1', layers: [{ randomBytes: LAYER, seed: 'faults-layer' }] });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

describe('registry faults', () => {
  test('5xx, 429 with Retry-After and a cut stream are retried; bytes are counted once', async (t) => {
    const bigLayer = image.platforms[0]!.layers[0]!;
    const proxy = await startFaultProxy(registry.url, [
      { match: /GET \/v2\/faults\/app\/manifests\/1$/, fault: { kind: 'status', status: 503 }, times: 2 },
      { match: new RegExp(`GET /v2/faults/app/blobs/${bigLayer}`), fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, times: 1 },
      { match: new RegExp(`GET /v2/faults/app/blobs/${bigLayer}`), fault: { kind: 'cut', afterBytes: 1 << 20 }, times: 1 },
    ]);
    t.after(() => proxy.stop());
    const spec = join(work, 'retry.yaml');
    await writeFile(spec, specText([`${proxy.host}/faults/app:1`], ['linux/amd64']));
    const output = join(work, 'retry.tar');
    const r = await runLading(['create', spec, '-o', output, '--json'], { env: { LADING_CACHE_DIR: join(work, 'retry-cache') } });
    assert.equal(r.code, 0, r.stderr);
    const log = proxy.log.join('\n');
    assert.match(log, /manifests\/1 -> 503\n.*manifests\/1 -> 503\n.*manifests\/1 -> 200/);
    assert.match(log, new RegExp(`${bigLayer} -> 429`));
    assert.match(log, new RegExp(`${bigLayer} -> cut after 1048576`));
    const { summary } = JSON.parse(r.stdout);
    const uniqueBytes = summary.uniqueLayerBytes + image.built.platforms[0]!.config.size;
    assert.equal(summary.downloadedBytes, uniqueBytes, 'a retried stream does not count its first megabyte twice');
    const verify = await runLading(['verify', output]);
    assert.equal(verify.code, 0, verify.stdout);
  });

  test('a registry that keeps failing ends in a registry error after the retries', async (t) => {
    const proxy = await startFaultProxy(registry.url, [{ match: /manifests/, fault: { kind: 'status', status: 500 } }]);
    t.after(() => proxy.stop());
    const spec = join(work, 'down.yaml');
    await writeFile(spec, specText([`${proxy.host}/faults/app:1`], ['linux/amd64']));
    const r = await runLading(['create', spec, '-o', join(work, 'down.tar')], { env: { LADING_CACHE_DIR: join(work, 'down-cache') } });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /faults\/app:1: registry answered 500: UNAVAILABLE injected fault/);
    assert.equal(proxy.log.filter((l) => l.includes('-> 500')).length, 5, 'five attempts');
    assert.ok(!(await readdir(work)).includes('down.tar'));
  });

  test('a registry serving corrupted bytes: an integrity error naming image and blob, nothing written or cached', async (t) => {
    const bigLayer = image.platforms[0]!.layers[0]!;
    const proxy = await startFaultProxy(registry.url, [
      { match: new RegExp(`GET /v2/faults/app/blobs/${bigLayer}`), fault: { kind: 'corrupt', atByte: 5 << 20 } },
    ]);
    t.after(() => proxy.stop());
    const dir = await mkdtemp(join(work, 'corrupt-'));
    const spec = join(dir, 'lading.yaml');
    await writeFile(spec, specText([`${proxy.host}/faults/app:1`], ['linux/amd64']));
    const cache = join(dir, 'cache');
    const r = await runLading(['create', spec, '-o', join(dir, 'out.tar')], { env: { LADING_CACHE_DIR: cache } });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, new RegExp(`${proxy.host}/faults/app:1: blob ${bigLayer}: content does not match its descriptor \\(digest sha256:[a-f0-9]{64}, expected ${bigLayer}\\)`));
    assert.equal(proxy.log.filter((l) => l.includes('corrupt')).length, 3, 'retried, then given up');
    assert.deepEqual((await readdir(dir)).sort(), ['cache', 'lading.yaml']);
    assert.deepEqual((await listFiles(cache)).filter((f) => f.includes(bigLayer.slice(7))), []);
  });

  test('Ctrl-C in the middle of a pull exits 130 and leaves no bundle, temp file or partial blob', async (t) => {
    const proxy = await startFaultProxy(registry.url, [{ match: /blobs/, fault: { kind: 'slow', bytesPerSecond: 4 << 20 } }]);
    t.after(() => proxy.stop());
    const dir = await mkdtemp(join(work, 'interrupt-'));
    const spec = join(dir, 'lading.yaml');
    await writeFile(spec, specText([`${proxy.host}/faults/app:1`], ['linux/amd64']));
    const cache = join(work, 'interrupt-cache');
    let interrupted = false;
    const r = await runLading(['create', spec, '-o', join(dir, 'out.tar')], {
      env: { LADING_CACHE_DIR: cache },
      onSpawn: (child) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          // The first progress line means the big layer is flowing.
          if (!interrupted && /faults\/app:1: [1-9][\d.]* (KiB|MiB) \//.test(chunk.toString())) {
            interrupted = true;
            child.kill('SIGINT');
          }
        });
      },
    });
    assert.ok(interrupted, `never saw a progress line:\n${r.stdout}`);
    assert.equal(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stderr, /Interrupted/);
    assert.deepEqual(await readdir(dir), ['lading.yaml']);
    const leftovers = (await listFiles(cache)).filter((f) => f.includes('.part-'));
    assert.deepEqual(leftovers, []);
  });
});
