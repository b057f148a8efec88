/**
 * `lading serve` as a user runs it (bin/lading, a child process on a free
 * port), over a bundle `lading create` wrote from a real registry (Debian's
 * docker-registry): skopeo and containerd pull through it, ranges and errors
 * over plain HTTP, a damaged bundle, bad flags, a port in use, TLS, SIGTERM.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { startContainerd } from '../support/containerd.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';
import { serve, type Serving } from '../support/serve.js';
import { makeCertificates, startRegistry, type TestRegistry } from '../support/registry.js';
import { requireTool } from '../support/tools.js';

const run = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let work: string;
let registry: TestRegistry;
let web: PushedImage;
let tools: PushedImage;
let bundle: string;
let skopeo: string;

before(async () => {
  skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
  work = await mkdtemp(join(tmpdir(), 'lading-serve-it-'));
  registry = await startRegistry();
  const base = { randomBytes: 3 << 20, seed: 'serve-it base' };
  web = await pushImage(registry, { repository: 'demo/web', tag: '1.0', platforms: ['linux/amd64', 'linux/arm64'], layers: [base, { files: { 'srv/index.html': 'served\n' } }] });
  tools = await pushImage(registry, { repository: 'demo/tools', tag: '2.1', format: 'docker', platforms: ['linux/amd64'], layers: [base] });
  bundle = join(work, 'site.lading.tar');
  await writeFile(join(work, 'spec.yaml'), specText([web.ref, tools.ref]));
  const created = await runLading(['create', join(work, 'spec.yaml'), '-o', bundle, '--json'], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
  assert.equal(created.code, 0, created.stderr);
  await registry.stop();
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A raw GET: how many body bytes arrived before the connection ended, and the error it ended with. */
function rawGet(url: string): Promise<{ status: number; received: number; error?: string }> {
  return new Promise((resolve) => {
    request(url, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => (received += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode!, received }));
      res.on('error', (error) => resolve({ status: res.statusCode!, received, error: error.message }));
    })
      .on('error', (error) => resolve({ status: 0, received: 0, error: error.message }))
      .end();
  });
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, offset);
  byte[0] = byte[0]! ^ 0x55;
  await handle.write(byte, 0, 1, offset);
  await handle.close();
}

describe('lading serve', () => {
  let server: Serving;
  before(async () => {
    server = await serve([bundle]);
  });
  after(async () => {
    await server?.stop();
  });

  test('starts with one JSON line naming the address and every image under both names', () => {
    assert.equal(server.started.url, `http://${server.host}`);
    const names = server.started.images.map((i) => i.repositories);
    assert.deepEqual(names, [
      ['demo/web', `${registry.host}/demo/web`],
      ['demo/tools', `${registry.host}/demo/tools`],
    ]);
  });

  test('skopeo inspects and copies through it, digests kept', async () => {
    const raw = await run(skopeo, ['inspect', '--raw', '--tls-verify=false', `docker://${server.host}/demo/web:1.0`], { encoding: 'buffer' });
    assert.equal(sha256(raw.stdout as Buffer), web.digest);
    const inspected = JSON.parse((await run(skopeo, ['inspect', '--tls-verify=false', `docker://${server.host}/demo/tools:2.1`])).stdout);
    assert.equal(inspected.Digest, tools.digest);
    assert.deepEqual(inspected.Layers, tools.platforms[0]!.layers);

    // --all keeps the index byte for byte: the copy's index.json points at the source digest.
    const dest = join(work, 'copied');
    await run(skopeo, ['copy', '--all', '--src-tls-verify=false', `docker://${server.host}/demo/web:1.0`, `oci:${dest}:web`]);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, web.digest);
    const blobs = await readdir(join(dest, 'blobs', 'sha256'));
    for (const name of blobs) assert.equal(sha256(await readFile(join(dest, 'blobs', 'sha256', name))), `sha256:${name}`);
    for (const p of web.platforms) for (const layer of p.layers) assert.ok(blobs.includes(layer.slice(7)), `${p.platform} layer ${layer} copied`);
  });

  test('the full name serves too (what a registry host with a port cannot be pulled by, fetch shows)', async () => {
    const res = await fetch(`http://${server.host}/v2/${registry.host}/demo/web/manifests/1.0`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), web.digest);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), web.digest);
  });

  test('byte ranges and spec error bodies', async () => {
    const layer = web.platforms[0]!.layers[0]!;
    const url = `http://${server.host}/v2/demo/web/blobs/${layer}`;
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.equal(sha256(whole), layer);
    const part = await fetch(url, { headers: { Range: 'bytes=100-4195' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-4195/${whole.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 4196));
    const beyond = await fetch(url, { headers: { Range: `bytes=${whole.length}-` } });
    assert.equal(beyond.status, 416);
    await beyond.body?.cancel();

    const missing = await fetch(`http://${server.host}/v2/demo/web/manifests/9.9`);
    assert.equal(missing.status, 404);
    assert.deepEqual(((await missing.json()) as { errors: Array<{ code: string }> }).errors.map((e) => e.code), ['MANIFEST_UNKNOWN']);
    const noBlob = await fetch(`http://${server.host}/v2/demo/web/blobs/sha256:${'1'.repeat(64)}`);
    assert.equal(noBlob.status, 404);
    assert.equal(((await noBlob.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UNKNOWN');
    const push = await fetch(`http://${server.host}/v2/demo/web/blobs/uploads/`, { method: 'POST' });
    assert.equal(push.status, 405);
    assert.equal(((await push.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNSUPPORTED');
  });

  test('containerd pulls through it', async (t) => {
    const containerd = await startContainerd();
    t.after(() => containerd.stop());
    await containerd.ctr(['images', 'pull', '--plain-http', `${server.host}/demo/web:1.0`]);
    await containerd.ctr(['images', 'pull', '--plain-http', `${server.host}/demo/tools:2.1`]);
    const listed = (await containerd.ctr(['images', 'ls'])).stdout;
    assert.match(listed, new RegExp(`${server.host}/demo/web:1\\.0\\s+\\S+\\s+${web.digest}`));
    assert.match(listed, new RegExp(`${server.host}/demo/tools:2\\.1\\s+\\S+\\s+${tools.digest}`));
  });

  test('SIGTERM closes it: exit 0, even with a client connected', async () => {
    const agent = await fetch(`http://${server.host}/v2/`);
    assert.equal(agent.status, 200);
    assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
  });
});

describe('lading serve refuses', () => {
  test('a damaged blob: the client gets an error, never the bad bytes; then 500, and a JSON line says so', async (t) => {
    const damaged = join(work, 'damaged.lading.tar');
    await copyFile(bundle, damaged);
    const layer = web.platforms[0]!.layers[0]!;
    const reader = await BundleReader.open(damaged);
    const entry = reader.blobEntry(layer)!;
    await reader.close();
    await flipByte(damaged, entry.offset + Math.floor(entry.size / 2));
    const server = await serve([damaged]);
    t.after(() => server.stop());

    // The first transfer is cut before its end: the client sees an error, and never the whole body.
    const first = await rawGet(`http://${server.host}/v2/demo/web/blobs/${layer}`);
    assert.ok(first.error !== undefined && first.received < entry.size, JSON.stringify(first));
    const again = await fetch(`http://${server.host}/v2/demo/web/blobs/${layer}`);
    assert.equal(again.status, 500);
    assert.equal(((await again.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UNKNOWN');
    const event = server.lines.map((l) => JSON.parse(l)).find((e) => e.event === 'damaged');
    assert.equal(event?.digest, layer);
    assert.match(event?.message, /does not match its descriptor/);
    // skopeo stops at the 500.
    const copied = await run(skopeo, ['copy', '--src-tls-verify=false', `docker://${server.host}/demo/web:1.0`, `oci:${join(work, 'from-damaged')}:web`]).then(
      () => 0,
      (error: { code?: number }) => error.code ?? 1,
    );
    assert.notEqual(copied, 0, 'skopeo copy fails');
  });

  test('a port in use: one line, exit 2', async (t) => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as { port: number }).port;
    const r = await runLading(['serve', bundle, '--listen', `127.0.0.1:${port}`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
    assert.equal(r.stdout, '');
  });

  test('bad flags: exit 2; a file that is no bundle: exit 7', async () => {
    for (const args of [['--listen', 'nowhere'], ['--tls-cert', join(work, 'x.crt')], ['--listen', '127.0.0.1:70000']]) {
      const r = await runLading(['serve', bundle, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal((await runLading(['serve'])).code, 2);
    const notBundle = join(work, 'not-a-bundle.tar');
    await writeFile(notBundle, 'hello\n'.repeat(300));
    const r = await runLading(['serve', notBundle, '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 7, r.stderr);
  });

  test('over TLS with --tls-cert and --tls-key', async (t) => {
    const certs = makeCertificates(join(work, 'tls'));
    const server = await serve([bundle], ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
    t.after(() => server.stop());
    assert.equal(server.started.url, `https://${server.host}`);
    const inspected = JSON.parse((await run(skopeo, ['inspect', '--cert-dir', certs.certDir, `docker://${server.host}/demo/tools:2.1`])).stdout);
    assert.equal(inspected.Digest, tools.digest);
  });
});
