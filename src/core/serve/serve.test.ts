/**
 * The registry `lading serve` runs, in-process over real HTTP on a free port,
 * from bundles written by the real BundleWriter (images built by the test
 * image builder): routes, errors, ranges, names, damaged blobs, several bundles.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { buildImage } from '../../../test/support/images/build.js';
import type { BuiltImage } from '../../../test/support/images/types.js';
import { writeImagesBundle } from '../../../fixtures/demo/seed.js';
import { BundleReader } from '../bundle/reader.js';
import { sha256Digest } from '../oci/digest.js';
import { AbortError, ExitCode } from '../errors.js';
import { openCatalog, type Catalog } from './catalog.js';
import { parseListen, startServer, type RunningServer } from './server.js';
import { parseRange } from './range.js';

let dir: string;
let web: BuiltImage;
let other: BuiltImage;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-serve-unit-'));
  web = await buildImage({
    repository: 'demo/web',
    tag: '1.0',
    platforms: ['linux/amd64', 'linux/arm64'],
    layers: [{ randomBytes: (5 << 20) / 2, seed: 'serve unit web' }, { files: { 'srv/index.html': 'hi\n' } }],
  });
  other = await buildImage({ repository: 'demo/web', tag: '1.0', platforms: ['linux/amd64'], layers: [{ files: { 'etc/other': 'x\n' } }] });
});

after(() => rm(dir, { recursive: true, force: true }));

async function serving(bundles: string[], t: { after(fn: () => Promise<void>): void }): Promise<{ server: RunningServer; catalog: Catalog; bad: string[] }> {
  const catalog = await openCatalog(bundles);
  const bad: string[] = [];
  const server = await startServer(catalog, { listen: { host: '127.0.0.1', port: 0 }, onBad: (blob) => bad.push(blob.digest) });
  t.after(async () => {
    await server.close();
    await catalog.close();
  });
  return { server, catalog, bad };
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers });
}

/** A raw GET that reports how many body bytes arrived before the connection ended, and whether it ended in an error. */
function rawGet(url: string): Promise<{ status: number; length: number; received: number; error?: string }> {
  return new Promise((resolve) => {
    request(url, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => (received += chunk.length));
      const length = Number(res.headers['content-length']);
      res.on('end', () => resolve({ status: res.statusCode!, length, received }));
      res.on('error', (error) => resolve({ status: res.statusCode!, length, received, error: error.message }));
    })
      .on('error', (error) => resolve({ status: 0, length: 0, received: 0, error: error.message }))
      .end();
  });
}

describe('lading serve (in-process)', () => {
  let bundle: string;
  before(async () => {
    bundle = join(dir, 'web.lading.tar');
    await writeImagesBundle(bundle, [web], 'example.com');
  });

  test('answers /v2/, manifests by tag and digest under the short and the full name, tags and catalog', async (t) => {
    const { server } = await serving([bundle], t);
    const base = await get(`${server.url}/v2/`);
    assert.equal(base.status, 200);
    assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
    for (const name of ['demo/web', 'example.com/demo/web']) {
      for (const reference of ['1.0', web.digest]) {
        const res = await get(`${server.url}/v2/${name}/manifests/${reference}`);
        assert.equal(res.status, 200, `${name} ${reference}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        assert.equal(sha256Digest(bytes), web.digest);
        assert.equal(res.headers.get('content-type'), web.mediaType);
        assert.equal(res.headers.get('docker-content-digest'), web.digest);
        assert.equal(Number(res.headers.get('content-length')), web.size);
      }
    }
    const amd64 = web.platforms[0]!.manifest;
    const head = await fetch(`${server.url}/v2/demo/web/manifests/${amd64.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), amd64.mediaType);
    assert.equal(Number(head.headers.get('content-length')), amd64.size);
    assert.deepEqual(await (await get(`${server.url}/v2/demo/web/tags/list`)).json(), { name: 'demo/web', tags: ['1.0'] });
    assert.deepEqual(await (await get(`${server.url}/v2/_catalog`)).json(), { repositories: ['demo/web', 'example.com/demo/web'] });
    const paged = await get(`${server.url}/v2/_catalog?n=1`);
    assert.deepEqual(await paged.json(), { repositories: ['demo/web'] });
    assert.equal(paged.headers.get('link'), '</v2/_catalog?n=1&last=demo%2Fweb>; rel="next"');
  });

  test('errors carry the distribution-spec JSON body; writes are refused', async (t) => {
    const { server } = await serving([bundle], t);
    const expect = async (path: string, status: number, code: string, init: RequestInit = {}) => {
      const res = await fetch(`${server.url}${path}`, init);
      assert.equal(res.status, status, path);
      const body = (await res.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0]?.code, code, path);
    };
    await expect('/v2/demo/web/manifests/2.0', 404, 'MANIFEST_UNKNOWN');
    await expect(`/v2/demo/web/manifests/sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN');
    await expect(`/v2/demo/web/manifests/${web.platforms[0]!.layers[0]!.digest}`, 404, 'MANIFEST_UNKNOWN');
    await expect('/v2/demo/web/manifests/sha256:totallywrong', 400, 'DIGEST_INVALID');
    await expect(`/v2/demo/web/blobs/sha256:${'0'.repeat(64)}`, 404, 'BLOB_UNKNOWN');
    await expect(`/v2/demo/nope/blobs/${web.platforms[0]!.layers[0]!.digest}`, 404, 'NAME_UNKNOWN');
    await expect('/v2/demo/nope/tags/list', 404, 'NAME_UNKNOWN');
    await expect('/v2/demo/web/blobs/uploads/', 405, 'UNSUPPORTED', { method: 'POST' });
    await expect('/v2/demo/web/manifests/1.0', 405, 'UNSUPPORTED', { method: 'PUT', body: '{}' });
    await expect(`/v2/demo/web/manifests/${web.digest}`, 405, 'UNSUPPORTED', { method: 'DELETE' });
  });

  test('blobs whole and in ranges, checked the first time', async (t) => {
    const { server, catalog } = await serving([bundle], t);
    const layer = web.platforms[0]!.layers[0]!;
    const url = `${server.url}/v2/demo/web/blobs/${layer.digest}`;
    const ranged = await get(url, { Range: 'bytes=1000-1999' });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${layer.size}`);
    const part = Buffer.from(await ranged.arrayBuffer());
    assert.equal(catalog.blobs.get(layer.digest)!.state, 'verified', 'a range of an unchecked blob hashes it whole first');
    const whole = Buffer.from(await (await get(url)).arrayBuffer());
    assert.equal(sha256Digest(whole), layer.digest);
    assert.deepEqual(part, whole.subarray(1000, 2000));
    const suffix = await get(url, { Range: 'bytes=-10' });
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), whole.subarray(-10));
    const open = await get(url, { Range: `bytes=${layer.size - 3}-` });
    assert.equal(open.headers.get('content-range'), `bytes ${layer.size - 3}-${layer.size - 1}/${layer.size}`);
    const outside = await get(url, { Range: `bytes=${layer.size}-` });
    assert.equal(outside.status, 416);
    assert.equal(outside.headers.get('content-range'), `bytes */${layer.size}`);
    const headed = await fetch(url, { method: 'HEAD' });
    assert.equal(Number(headed.headers.get('content-length')), layer.size);
    assert.equal(headed.headers.get('docker-content-digest'), layer.digest);
  });

  test('a damaged blob never reaches a client whole: the transfer is cut, then it is answered 500', async (t) => {
    const damaged = join(dir, 'damaged.lading.tar');
    await writeImagesBundle(damaged, [web], 'example.com');
    const big = web.platforms[0]!.layers[0]!;
    const config = web.platforms[0]!.config;
    const manifest = web.platforms[1]!.manifest;
    const reader = await BundleReader.open(damaged);
    const offsets = [reader.blobEntry(big.digest)!.offset + big.size - 10, reader.blobEntry(config.digest)!.offset + 5, reader.blobEntry(manifest.digest)!.offset + 20];
    await reader.close();
    const handle = await open(damaged, 'r+');
    for (const offset of offsets) {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, offset);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, offset);
    }
    await handle.close();
    const { server, bad } = await serving([damaged], t);

    for (const blob of [big, config]) {
      const first = await rawGet(`${server.url}/v2/demo/web/blobs/${blob.digest}`);
      // Cut before the response (a small blob: its only chunk is held back), or in the middle of the body.
      assert.ok(first.error !== undefined, `${blob.digest}: ${JSON.stringify(first)}`);
      assert.ok(first.received < blob.size, `never the whole body: ${JSON.stringify(first)}`);
      const again = await get(`${server.url}/v2/demo/web/blobs/${blob.digest}`);
      assert.equal(again.status, 500);
      assert.equal(((await again.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UNKNOWN');
    }
    const man = await get(`${server.url}/v2/demo/web/manifests/${manifest.digest}`);
    assert.equal(man.status, 500);
    assert.deepEqual(bad.sort(), [big.digest, config.digest, manifest.digest].sort());
    // The rest of the bundle is still served.
    assert.equal((await get(`${server.url}/v2/demo/web/manifests/1.0`)).status, 200);
  });

  test('several bundles: union; a short name two registries disagree on is left out, a full name they disagree on is refused', async (t) => {
    const fromB = join(dir, 'b.lading.tar');
    await writeImagesBundle(fromB, [other], 'b.example.org');
    const { server, catalog } = await serving([bundle, fromB], t);
    assert.match(catalog.warnings.join('\n'), /demo\/web:1\.0 is not served: example\.com\/demo\/web:1\.0 and b\.example\.org\/demo\/web:1\.0 differ/);
    assert.equal((await get(`${server.url}/v2/demo/web/manifests/1.0`)).status, 404);
    assert.equal((await get(`${server.url}/v2/example.com/demo/web/manifests/1.0`)).headers.get('docker-content-digest'), web.digest);
    assert.equal((await get(`${server.url}/v2/b.example.org/demo/web/manifests/1.0`)).headers.get('docker-content-digest'), other.digest);

    const clash = join(dir, 'clash.lading.tar');
    await writeImagesBundle(clash, [other], 'example.com');
    await assert.rejects(openCatalog([bundle, clash]), (error: unknown) => {
      assert.ok(error instanceof AbortError);
      assert.equal(error.exitCode, ExitCode.usage);
      assert.match(error.message, new RegExp(`example\\.com/demo/web:1\\.0 is ${web.digest} in .*web\\.lading\\.tar but ${other.digest} in .*clash\\.lading\\.tar`));
      return true;
    });
    // The same image in two bundles is fine.
    const again = await openCatalog([bundle, bundle]);
    assert.equal(again.images.length, 1);
    await again.close();
  });

  test('referrers: the manifests whose subject is a digest, an empty index otherwise, never 404', async (t) => {
    const config = Buffer.from('{}');
    const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(config), size: config.length };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.signature',
        config: empty,
        layers: [],
        subject: { mediaType: web.mediaType, digest: web.digest, size: web.size },
        annotations: { 'org.example': 'signed' },
      }),
    );
    const digest = sha256Digest(manifest);
    const signature: BuiltImage = {
      repository: 'demo/web',
      tag: 'sig',
      format: 'oci',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: manifest.length,
      data: manifest,
      layerDigests: [],
      platforms: [
        {
          platform: 'linux/amd64',
          os: 'linux',
          architecture: 'amd64',
          manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, data: manifest },
          config: { ...empty, data: config },
          layers: [],
        },
      ],
    };
    const withSig = join(dir, 'signed.lading.tar');
    await writeImagesBundle(withSig, [web, signature], 'example.com');
    const { server } = await serving([withSig], t);
    const res = await get(`${server.url}/v2/demo/web/referrers/${web.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(((await res.json()) as { manifests: unknown[] }).manifests, [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, artifactType: 'application/vnd.example.signature', annotations: { 'org.example': 'signed' } },
    ]);
    const filtered = await get(`${server.url}/v2/demo/web/referrers/${web.digest}?artifactType=application/other`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(((await filtered.json()) as { manifests: unknown[] }).manifests, []);
    for (const path of [`/v2/demo/web/referrers/${digest}`, `/v2/nobody/here/referrers/${digest}`]) {
      const none = await get(`${server.url}${path}`);
      assert.equal(none.status, 200, path);
      assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);
    }
    assert.equal((await get(`${server.url}/v2/demo/web/referrers/sha256:nope`)).status, 400);
  });

  test('a port in use is one clear refusal (exit 2)', async (t) => {
    const { server, catalog } = await serving([bundle], t);
    await assert.rejects(startServer(catalog, { listen: { host: '127.0.0.1', port: server.address.port } }), (error: unknown) => {
      assert.ok(error instanceof AbortError);
      assert.equal(error.exitCode, ExitCode.usage);
      assert.match(error.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.address.port}: the port is already in use`));
      return true;
    });
  });
});

test('--listen forms', () => {
  assert.deepEqual(parseListen('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseListen('5001'), { host: '127.0.0.1', port: 5001 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('0.0.0.0:5000'), { host: '0.0.0.0', port: 5000 });
  for (const bad of ['', 'x', '127.0.0.1:', '127.0.0.1:99999', 'a b:1']) {
    assert.throws(() => parseListen(bad), (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.usage, bad);
  }
});

test('Range forms', () => {
  assert.deepEqual(parseRange(undefined, 10), { kind: 'whole' });
  assert.deepEqual(parseRange('bytes=0-0', 10), { kind: 'part', start: 0, end: 0 });
  assert.deepEqual(parseRange('bytes=5-', 10), { kind: 'part', start: 5, end: 9 });
  assert.deepEqual(parseRange('bytes=5-100', 10), { kind: 'part', start: 5, end: 9 });
  assert.deepEqual(parseRange('bytes=-3', 10), { kind: 'part', start: 7, end: 9 });
  assert.deepEqual(parseRange('bytes=-30', 10), { kind: 'part', start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-1,4-5', 10), { kind: 'whole' });
  assert.deepEqual(parseRange('items=0-1', 10), { kind: 'whole' });
  assert.deepEqual(parseRange('bytes=5-2', 10), { kind: 'whole' });
});
