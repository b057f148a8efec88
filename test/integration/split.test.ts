/**
 * Split bundles: `create --split` writes NAME.tar.001... and NAME.parts; every
 * command reads across the parts (from the list or any part); `cat` of the
 * parts is byte for byte the single-file bundle; a missing, resized or damaged
 * part is named before anything uses the bundle.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';

let work: string;
let registry: TestRegistry;
let spec: string;
const env = () => ({ LADING_CACHE_DIR: join(work, 'cache'), SOURCE_DATE_EPOCH: '1700000000' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-split-'));
  registry = await startRegistry();
  const image = await pushImage(registry, { repository: 'split/app', tag: '1', layers: [{ randomBytes: (3 << 20) + 12345, seed: 'split' }] });
  spec = join(work, 'lading.yaml');
  await writeFile(spec, specText([image.ref], ['linux/amd64']));
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function createSplit(dir: string): Promise<string> {
  const r = await runLading(['create', spec, '-o', join(dir, 'site.lading.tar'), '--split', '1MiB', '--json'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).summary.bundlePath, join(dir, 'site.lading.parts'));
  return join(dir, 'site.lading.parts');
}

test('parts of at most SIZE and a list; cat of the parts is the single-file bundle; every command reads them', async () => {
  const dir = join(work, 'ok');
  await (await import('node:fs/promises')).mkdir(dir);
  const list = await createSplit(dir);
  const names = (await readdir(dir)).sort();
  assert.deepEqual(names, ['site.lading.parts', 'site.lading.tar.001', 'site.lading.tar.002', 'site.lading.tar.003', 'site.lading.tar.004']);
  const parsed = JSON.parse(await readFile(list, 'utf8'));
  const parts = await Promise.all(names.slice(1).map((n) => readFile(join(dir, n))));
  assert.ok(parts.slice(0, -1).every((p) => p.length === 1 << 20), 'every part but the last is exactly 1 MiB');
  parsed.parts.forEach((p: { file: string; size: number; sha256: string }, i: number) => {
    assert.equal(p.file, names[i + 1]);
    assert.equal(p.sha256, sha256(parts[i]!));
  });
  const whole = Buffer.concat(parts);
  assert.equal(sha256(whole), parsed.sha256);
  const single = join(work, 'single.tar');
  const r = await runLading(['create', spec, '-o', single, '--json'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha256(await readFile(single)), sha256(whole), 'cat NAME.tar.0* is byte for byte the bundle create writes without --split');
  for (const target of [list, join(dir, 'site.lading.tar.001'), join(dir, 'site.lading.tar.003')]) {
    const verified = await runLading(['verify', target, '--json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const inspected = await runLading(['inspect', target, '--json']);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal(JSON.parse(inspected.stdout).images.length, 1);
  }
  const again = await runLading(['create', spec, '-o', join(dir, 'site.lading.tar'), '--split', '1MiB'], { env: env() });
  assert.equal(again.code, 2, 'the list exists: --force is needed');
  assert.match(again.stderr, /site\.lading\.parts already exists/);
});

test('a missing, resized or damaged part is named; a bad --split is a usage error', async () => {
  const dir = join(work, 'bad');
  await (await import('node:fs/promises')).mkdir(dir);
  const list = await createSplit(dir);
  // Damaged: one byte flipped inside the layer, in the third part.
  const handle = await open(join(dir, 'site.lading.tar.003'), 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, 1000);
  byte[0] = byte[0]! ^ 0xff;
  await handle.write(byte, 0, 1, 1000);
  await handle.close();
  const damaged = await runLading(['verify', list]);
  assert.equal(damaged.code, 6, damaged.stdout + damaged.stderr);
  assert.match(damaged.stdout + damaged.stderr, /\(damaged part site\.lading\.tar\.003\): content does not match its digest/);
  const kubeconfig = join(work, 'kubeconfig');
  await writeFile(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'u', user: {} }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }));
  const install = await runLading(['install', list, '--kubeconfig', kubeconfig, '--yes', '--no-tui']);
  assert.equal(install.code, 6, 'refused before the cluster (which does not exist) is contacted');
  await truncate(join(dir, 'site.lading.tar.002'), 1000);
  const resized = await runLading(['inspect', list]);
  assert.equal(resized.code, 7);
  assert.match(resized.stderr, /part site\.lading\.tar\.002 is 1000 bytes, the list says 1048576/);
  await unlink(join(dir, 'site.lading.tar.004'));
  const missing = await runLading(['verify', join(dir, 'site.lading.tar.001')]);
  assert.equal(missing.code, 7);
  assert.match(missing.stderr, /part site\.lading\.tar\.002 is 1000 bytes, the list says 1048576; part site\.lading\.tar\.004 is missing/);
  const tiny = await runLading(['create', spec, '-o', join(dir, 'x.tar'), '--split', '100']);
  assert.equal(tiny.code, 2);
  assert.match(tiny.stderr, /--split 100: expected a size of at least 1MiB/);
});
