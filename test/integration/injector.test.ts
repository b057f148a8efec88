/**
 * The ConfigMap injector (src/injector, Go) as a pod runs it, without a cluster: its payload made by
 * payload.ts from the demo seed bundle (demo/web:1.0, linux/amd64), written as the kubelet mounts
 * ConfigMaps and left read-only, the injector run as nobody with no capabilities. skopeo and containerd
 * pull from it with the bundle's digests; a flipped byte in one chunk file is refused (the client never
 * gets the bad bytes, stderr names blob, chunk, ConfigMap and key); its memory stays small.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { chmod, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureSeedBundle, SEED_REGISTRY } from '../../fixtures/demo/seed.js';
import { summarizePayload, type PayloadPlan } from '../../src/core/configmap/payload.js';
import { sha256Digest } from '../../src/core/oci/digest.js';
import type { BuiltImage } from '../support/images.js';
import { startContainerd } from '../support/containerd.js';
import { buildInjector, makeReadOnly, startInjector, writePayload, type BuiltInjector, type RunningInjector } from '../support/injector.js';
import { requireTool } from '../support/tools.js';

const run = promisify(execFile);
const MiB = 1 << 20;

let work: string;
let root: string;
let injectors: Record<string, BuiltInjector>;
let web: BuiltImage;
let plan: PayloadPlan;
let dirs: string[];
let injector: RunningInjector;
let firstManifestMs: number;

const amd64 = () => web.platforms.find((p) => p.platform === 'linux/amd64')!;
const url = (path: string) => `http://${injector.host}${path}`;

async function blobBytes(layer: { data?: Buffer; file?: string }): Promise<Buffer> {
  return layer.data ?? (await readFile(layer.file!));
}

/** A GET that reports the body bytes that arrived, and whether the connection ended before all of them. */
function rawGet(target: string): Promise<{ status: number; length: number; body: Buffer; cut: boolean }> {
  return new Promise((resolve, reject) => {
    request(target, (res) => {
      const pieces: Buffer[] = [];
      let cut = false;
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('aborted', () => (cut = true));
      res.on('error', () => (cut = true));
      res.on('close', () => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body: Buffer.concat(pieces), cut: cut || !res.complete }));
    })
      .on('error', reject)
      .end();
  });
}

before(async () => {
  injectors = await buildInjector();
  work = await mkdtemp(join(tmpdir(), 'lading-injector-'));
  await chmod(work, 0o755); // nobody (the injector) must reach the payload below it
  const seed = await ensureSeedBundle(join(work, 'seed'));
  web = seed.images.find((i) => i.repository === 'demo/web')!;
  root = join(work, 'root');
  ({ plan, dirs } = await writePayload(seed.path, [`${SEED_REGISTRY}/demo/web:1.0`], 'linux/amd64', injectors['linux/amd64']!, root));
  await makeReadOnly(root);
  injector = await startInjector(injectors['linux/amd64']!.path, dirs, root);
  for (;;) {
    const res = await fetch(url('/v2/demo/web/manifests/1.0')).catch(() => undefined);
    if (res?.status === 200) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  firstManifestMs = performance.now() - injector.startedAt;
  for (let i = 0; i < 100 && !/first manifest served/.test(injector.stderr()); i++) await new Promise((r) => setTimeout(r, 10));
});

after(async () => {
  await injector?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the ConfigMap injector, run as a pod would run it', () => {
  test('measured: its size, the payload in ConfigMaps, the time to the first manifest', (t) => {
    const summary = summarizePayload(plan);
    for (const [platform, built] of Object.entries(injectors)) t.diagnostic(`injector ${platform}: ${built.size} bytes (${(built.size / MiB).toFixed(2)} MiB)`);
    t.diagnostic(`payload: ${summary.configMaps} ConfigMaps for ${(summary.bytes / MiB).toFixed(2)} MiB = ${(summary.configMaps / (summary.bytes / MiB)).toFixed(2)} per MiB (${summary.blobs} blobs, ${summary.chunks} chunks)`);
    const own = /first manifest served (\d+) ms after start/.exec(injector.stderr())?.[1];
    t.diagnostic(`first manifest served ${firstManifestMs.toFixed(0)} ms after the process was spawned (${own} ms by the injector's own clock)`);
    assert.equal(summary.configMaps, dirs.length);
    assert.ok(firstManifestMs < 2000, `${firstManifestMs} ms`);
  });

  test('its Go tests pass: request heads, routes, validators, hostile chunk indexes refused at start', async () => {
    const cwd = fileURLToPath(new URL('../../src/injector/', import.meta.url));
    await run('go', ['test', '-count=1', '.'], { cwd, env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' }, timeout: 5 * 60_000 });
  });

  test('runs as nobody, with no capabilities and no_new_privs', async () => {
    const status = await readFile(`/proc/${injector.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.match(status, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.match(status, /^Groups:\s*$/m);
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.match(status, /^CapBnd:\s+0+$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
  });

  test('the pull API: /v2/, manifests by tag and digest, blobs, headers, spec errors, 405 for writes', async () => {
    const base = await fetch(url('/v2/'));
    assert.equal(base.status, 200);
    assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
    for (const name of ['demo/web', `${SEED_REGISTRY}/demo/web`]) {
      const byTag = await fetch(url(`/v2/${name}/manifests/1.0`));
      assert.equal(byTag.status, 200);
      assert.equal(byTag.headers.get('content-type'), web.mediaType);
      assert.equal(byTag.headers.get('docker-content-digest'), web.digest);
      assert.equal(byTag.headers.get('content-length'), String(web.size));
      assert.ok(Buffer.from(await byTag.arrayBuffer()).equals(web.data));
    }
    const manifest = amd64().manifest;
    const head = await fetch(url(`/v2/demo/web/manifests/${manifest.digest}`), { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers.get('content-type'), head.headers.get('content-length'), head.headers.get('docker-content-digest')], [200, manifest.mediaType, String(manifest.size), manifest.digest]);
    const layer = amd64().layers.find((l) => l.size > 2 * MiB)!;
    const blob = await fetch(url(`/v2/demo/web/blobs/${layer.digest}`));
    assert.deepEqual([blob.status, blob.headers.get('content-type'), blob.headers.get('content-length')], [200, 'application/octet-stream', String(layer.size)]);
    assert.equal(sha256Digest(Buffer.from(await blob.arrayBuffer())), layer.digest);
    const arm64 = web.platforms.find((p) => p.platform === 'linux/arm64')!;
    const missing: Array<[string, number, string]> = [
      [`/v2/demo/web/manifests/2.0`, 404, 'MANIFEST_UNKNOWN'],
      [`/v2/demo/web/manifests/${arm64.manifest.digest}`, 404, 'MANIFEST_UNKNOWN'], // not this platform's
      [`/v2/demo/web/blobs/${arm64.config.digest}`, 404, 'BLOB_UNKNOWN'],
      [`/v2/demo/other/manifests/1.0`, 404, 'NAME_UNKNOWN'],
      [`/v2/demo/web/blobs/sha256:nothex`, 400, 'DIGEST_INVALID'],
    ];
    for (const [path, status, code] of missing) {
      const res = await fetch(url(path));
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, code, path);
    }
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH']) {
      const res = await fetch(url(`/v2/demo/web/manifests/1.0`), { method, body: method === 'DELETE' ? undefined : '{}' });
      assert.equal(res.status, 405, method);
      assert.equal(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNSUPPORTED');
    }
  });

  test('skopeo inspects and copies the image with the bundle digests', async () => {
    const skopeo = requireTool('skopeo');
    const ref = `docker://${injector.host}/demo/web:1.0`;
    const raw = await run(skopeo, ['inspect', '--raw', '--tls-verify=false', ref]);
    assert.equal(sha256Digest(raw.stdout), web.digest);
    const inspected = JSON.parse((await run(skopeo, ['inspect', '--tls-verify=false', '--override-os', 'linux', '--override-arch', 'amd64', ref])).stdout);
    assert.equal(inspected.Digest, web.digest);
    assert.deepEqual(inspected.Layers, amd64().layers.map((l) => l.digest));
    const out = join(work, 'copied');
    await run(skopeo, ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', 'amd64', ref, `oci:${out}:1.0`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, amd64().manifest.digest);
    for (const layer of amd64().layers) assert.equal(sha256Digest(await readFile(join(out, 'blobs', 'sha256', layer.digest.slice(7)))), layer.digest);
  });

  test('containerd pulls it over plain HTTP, by tag, with the bundle digest', async () => {
    const containerd = await startContainerd();
    try {
      await containerd.ctr(['images', 'pull', '--plain-http', '--platform', 'linux/amd64', `${injector.host}/demo/web:1.0`]);
      const listed = (await containerd.ctr(['images', 'ls'])).stdout;
      assert.match(listed, new RegExp(`${injector.host}/demo/web:1\\.0\\s+\\S+\\s+${web.digest}`));
    } finally {
      await containerd.stop();
    }
  });

  test('its memory stays small after all those pulls (VmHWM)', async (t) => {
    const status = await readFile(`/proc/${injector.pid}/status`, 'utf8');
    const hwm = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
    t.diagnostic(`VmHWM ${(hwm / MiB).toFixed(1)} MiB, serving ${(plan.bytes / MiB).toFixed(1)} MiB`);
    assert.ok(hwm < 40 * MiB, `VmHWM ${hwm}`);
  });

  test('a flipped byte in one chunk: the blob is refused, the client never gets the bad bytes, stderr names it', async (t) => {
    const layer = amd64().layers.find((l) => l.size > 2 * MiB)!;
    const chunks = plan.blobs.find((b) => b.digest === layer.digest)!.chunks;
    assert.ok(chunks.length >= 3);
    const victim = chunks[1]!;
    const file = await open(join(root, 'payload', victim.configMap, victim.key), 'r+'); // root may write; nobody may not
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, 1000);
    await file.write(Buffer.from([byte[0]! ^ 0x01]), 0, 1, 1000);
    await file.close();

    const got = await rawGet(url(`/v2/demo/web/blobs/${layer.digest}`));
    const truth = await blobBytes(layer);
    t.diagnostic(`tampered blob: status ${got.status}, ${got.body.length} of ${truth.length} bytes (the verified first chunk), then the connection was cut`);
    // The first chunk was verified and sent with the headers; the second failed its check: the connection is cut.
    assert.deepEqual([got.status, got.cut], [200, true]);
    assert.equal(got.body.length, chunks[0]!.size);
    assert.ok(got.body.equals(truth.subarray(0, got.body.length)), 'only verified bytes were sent');
    await new Promise((r) => setTimeout(r, 100));
    const lines = injector.stderr().split('\n').filter((l) => l.includes(layer.digest));
    assert.equal(lines.length, 1, injector.stderr());
    assert.match(lines[0]!, new RegExp(`chunk 2 of ${chunks.length} \\(ConfigMap ${victim.configMap}, key ${victim.key.replace('.', '\\.')}\\): sha256 is [0-9a-f]{64}, the index says [0-9a-f]{64}; it is not served`));

    const again = await fetch(url(`/v2/demo/web/blobs/${layer.digest}`));
    assert.equal(again.status, 500);
    assert.equal(((await again.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UNKNOWN');
    await assert.rejects(run(requireTool('skopeo'), ['copy', '--src-tls-verify=false', `docker://${injector.host}/demo/web:1.0`, `oci:${join(work, 'tampered')}:1.0`]));

    // A fresh injector on the tampered payload names the blob at start, before anyone asks for it.
    const fresh = await startInjector(injectors['linux/amd64']!.path, dirs, join(work, 'fresh'));
    try {
      for (let i = 0; i < 200 && !/checked \d+ blobs/.test(fresh.stderr()); i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(fresh.stderr(), new RegExp(`refused blob ${layer.digest} .*chunk 2 of`));
      assert.match(fresh.stderr(), /checked \d+ blobs: \d+ good, 1 refused/);
      t.diagnostic(`a fresh injector's stderr: ${fresh.stderr().trim().split('\n').join(' | ')}`);
    } finally {
      await fresh.stop();
    }
  });
});
