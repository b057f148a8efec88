/**
 * Delta bundles: `create --since OLD` leaves out the layers OLD holds and says
 * so in lading.json; inspect and verify tell it is a delta and what the target
 * must hold; serve takes it together with its base; a wrong base is refused
 * before anything is pulled.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';
import { serve } from '../support/serve.js';
import { requireTool } from '../support/tools.js';

const run = promisify(execFile);
let work: string;
let registry: TestRegistry;
let v1: PushedImage;
let v2: PushedImage;
const base = { randomBytes: 4 << 20, seed: 'delta-base' };
const env = () => ({ LADING_CACHE_DIR: join(work, 'cache') });

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-delta-'));
  registry = await startRegistry();
  v1 = await pushImage(registry, { repository: 'delta/app', tag: '1', layers: [base, { files: { 'app/version': '1\n' } }] });
  v2 = await pushImage(registry, { repository: 'delta/app', tag: '2', layers: [base, { files: { 'app/version': '2\n' } }] });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function create(name: string, images: string[], extra: string[] = []) {
  const spec = join(work, `${name}.yaml`);
  await writeFile(spec, specText(images, ['linux/amd64']));
  const out = join(work, `${name}.tar`);
  const r = await runLading(['create', spec, '-o', out, '--json', ...extra], { env: env() });
  return { out, r };
}

test('a delta leaves out what its base holds, says so, verifies, and is served together with its base', async () => {
  const full = await create('old', [v1.ref]);
  assert.equal(full.r.code, 0, full.r.stderr);
  const delta = await create('new', [v2.ref], ['--since', full.out]);
  assert.equal(delta.r.code, 0, delta.r.stderr);
  const whole = await create('new-whole', [v2.ref]);
  assert.equal(whole.r.code, 0, whole.r.stderr);
  const [deltaBytes, wholeBytes] = [(await stat(delta.out)).size, (await stat(whole.out)).size];
  process.stdout.write(`# delta ${deltaBytes} bytes against the whole bundle's ${wholeBytes} (${((deltaBytes / wholeBytes) * 100).toFixed(1)} %)\n`);
  assert.ok(deltaBytes < (1 << 20) && wholeBytes > 4 << 20, 'the 4 MiB base layer is left out');

  const inspected = await runLading(['inspect', delta.out, '--json']);
  assert.equal(inspected.code, 0, inspected.stderr);
  const report = JSON.parse(inspected.stdout);
  assert.equal(report.delta.base.name, 'test');
  assert.match(report.delta.base.metadataDigest, /^sha256:[a-f0-9]{64}$/);
  assert.equal(report.delta.omittedLayers, 2, 'the shared base layer and the platform layer the builder adds to both');
  const plain = await runLading(['inspect', delta.out]);
  assert.match(plain.stdout, /Delta +against test 1\.0\.0 .*2 layers, 4\.0 MiB left out, which the target must hold/);

  const verified = await runLading(['verify', delta.out, '--json']);
  assert.equal(verified.code, 0, verified.stdout);
  const v = JSON.parse(verified.stdout);
  assert.equal(v.expectedOnTarget.length, 2);
  assert.ok(v.expectedOnTarget.some((o: { size: number }) => o.size >= 4 << 20), "the 4 MiB base layer (its gzip)");

  const alone = await runLading(['serve', delta.out, '--listen', '127.0.0.1:0'], { timeoutMs: 20_000 });
  assert.equal(alone.code, 7, alone.stderr);
  assert.match(alone.stderr, /is a delta against test 1\.0\.0: 2 of its layers, first sha256:[a-f0-9]{64}, are in none of the bundles served/);

  const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
  const server = await serve([full.out, delta.out]);
  try {
    await run(skopeo, ['copy', '--src-tls-verify=false', `docker://${server.host}/delta/app:2`, `oci:${join(work, 'copy')}:app`]);
  } finally {
    await server.stop();
  }
});

test('a base that is missing or not a bundle is refused before anything is pulled', async () => {
  const missing = await create('bad-base', [v2.ref], ['--since', join(work, 'nope.tar')]);
  assert.equal(missing.r.code, 7);
  assert.match(missing.r.stdout + missing.r.stderr, /nope\.tar: no such file/);
  const dir = await create('dir-base', [v2.ref], ['--since', work]);
  assert.equal(dir.r.code, 7);
});

test('an inventory that is missing or not an inventory is refused before anything is pulled; --since and --against exclude each other', async () => {
  const missing = await create('no-inventory', [v2.ref], ['--against', join(work, 'nope.json')]);
  assert.equal(missing.r.code, 2);
  assert.match(missing.r.stderr, /cannot read the inventory .*nope\.json: ENOENT/);
  await writeFile(join(work, 'not-inventory.json'), JSON.stringify({ schema: 'lading.dev/bundle/v1alpha1' }));
  const wrong = await create('wrong-inventory', [v2.ref], ['--against', join(work, 'not-inventory.json')]);
  assert.equal(wrong.r.code, 2);
  assert.match(wrong.r.stderr, /not-inventory\.json is not a lading inventory: expected "schema": "lading\.inventory\/v1"/);
  const both = await create('both', [v2.ref], ['--against', join(work, 'not-inventory.json'), '--since', join(work, 'old.tar')]);
  assert.equal(both.r.code, 2);
  assert.match(both.r.stderr, /cannot be used with option/);
});
