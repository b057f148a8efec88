// The image builder/pusher checked against real tools: docker-registry stores
// what we push, skopeo reads it back (digests must match ours byte for byte),
// and umoci unpacks it (the rootfs must hold our files).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  MediaTypes,
  SeededRandom,
  buildImage,
  buildLayerBlob,
  forgetBuiltLayers,
  pushImage,
  sha256,
  writeOciLayout,
  type ImageSpec,
} from './images.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { requireTool } from './tools.js';

const skopeo = requireTool('skopeo');
const umoci = requireTool('umoci');

interface RunResult {
  stdout: Buffer;
  stderr: string;
}

async function run(cmd: string, args: string[]): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${stderr.toString().trim() || err.message}`));
      else resolve({ stdout, stderr: stderr.toString() });
    });
  });
}

/** skopeo flags to reach a test registry ('src' for copy, '' for inspect). */
function access(r: TestRegistry, prefix: 'src-' | ''): string[] {
  const args: string[] = [];
  if (r.scheme === 'http') args.push(`--${prefix}tls-verify=false`);
  if (r.certDir) args.push(`--${prefix}cert-dir`, r.certDir);
  if (r.username !== undefined) args.push(`--${prefix}creds`, `${r.username}:${r.password}`);
  return args;
}

async function inspectRaw(r: TestRegistry, ref: string): Promise<Buffer> {
  return (await run(skopeo, ['inspect', '--raw', ...access(r, ''), `docker://${ref}`])).stdout;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'lading-images-test-'));
const cacheDir = path.join(work, 'cache');
let plain: TestRegistry;
let secure: TestRegistry;

before(async () => {
  [plain, secure] = await Promise.all([startRegistry(), startRegistry({ tls: true, auth: { username: 'tester', password: 'pa55' } })]);
});
after(async () => {
  await Promise.all([plain?.stop(), secure?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

function scratchDir(name: string): string {
  const dir = path.join(work, name);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

function sha256File(file: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
}

const multiArch: ImageSpec = {
  repository: 'fixtures/multi',
  tag: '1.0',
  platforms: ['linux/amd64', 'linux/arm64', 'linux/arm64/v8'],
  layers: [
    {
      files: {
        '/etc/hello.txt': 'hello from lading\n',
        'usr/local/bin/tool': { content: '#!/bin/sh\necho tool\n', mode: 0o755 },
        'usr/local/bin/alias': { symlink: 'tool' },
        'var/empty': { directory: true },
      },
    },
    { randomBytes: 2 * 1024 * 1024 + 123, seed: 'multi-data' },
  ],
  platformLayers: (platform) => [{ files: { 'etc/arch-note': `built for ${platform}\n` } }],
  annotations: { 'org.opencontainers.image.title': 'multi' },
};

describe('buildImage', () => {
  it('is deterministic and shares equal layers across images', async () => {
    const a = await buildImage(multiArch, { cache: false });
    forgetBuiltLayers();
    const b = await buildImage(multiArch, { cache: false });
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.layerDigests, b.layerDigests);
    assert.equal(a.mediaType, MediaTypes.ociIndex);
    assert.equal(a.platforms.length, 3);
    assert.equal(new Set(a.platforms.map((p) => p.manifest.digest)).size, 3, 'platform manifests differ');

    // Same random layer (seed + size) in another image: same digest; another seed: different.
    const other = await buildImage(
      { repository: 'x/other', tag: 'v', layers: [{ randomBytes: 2 * 1024 * 1024 + 123, seed: 'multi-data' }, { randomBytes: 1000, seed: 'other' }] },
      { cache: false },
    );
    const sharedLayer = a.platforms[0]!.layers[1]!.digest;
    assert.equal(other.platforms[0]!.layers[0]!.digest, sharedLayer);
    assert.notEqual(other.platforms[0]!.layers[1]!.digest, sharedLayer);
    assert.equal(other.mediaType, MediaTypes.ociManifest, 'one platform: a plain manifest');

    // The same content under another name has the same digests.
    const renamed = await buildImage({ ...multiArch, repository: 'elsewhere/multi', tag: 'latest' }, { cache: false });
    assert.equal(renamed.digest, a.digest);
  });

  it('writes valid tar+gzip whose diff_ids, digests and contents check out', async () => {
    const built = await buildImage(multiArch, { cache: false });
    const amd64 = built.platforms.find((p) => p.platform === 'linux/amd64')!;
    const config = JSON.parse(amd64.config.data.toString()) as {
      architecture: string;
      os: string;
      variant?: string;
      rootfs: { type: string; diff_ids: string[] };
    };
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.equal(config.variant, undefined);
    assert.equal(config.rootfs.type, 'layers');
    assert.equal(amd64.layers.length, 4, 'shared files + random + platformLayers + etc/platform');
    for (const [i, layer] of amd64.layers.entries()) {
      const bytes = layer.data ?? readFileSync(layer.file!);
      assert.equal(sha256(bytes), layer.digest);
      assert.equal(bytes.length, layer.size);
      const tarBytes = zlib.gunzipSync(bytes);
      assert.equal(sha256(tarBytes), layer.diffId);
      assert.equal(config.rootfs.diff_ids[i], layer.diffId);
      assert.equal(layer.mediaType, MediaTypes.ociLayerGzip);
    }
    const v8 = built.platforms.find((p) => p.platform === 'linux/arm64/v8')!;
    assert.equal(JSON.parse(v8.config.data.toString()).variant, 'v8');
    const index = JSON.parse(built.data.toString()) as { manifests: { digest: string; platform: Record<string, string> }[] };
    assert.deepEqual(
      index.manifests.map((m) => m.platform),
      [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }, { architecture: 'arm64', os: 'linux', variant: 'v8' }],
    );

    // The random file inside the tar is exactly the seeded generator's output.
    const random = amd64.layers[1]!;
    const tarBytes = zlib.gunzipSync(random.data ?? readFileSync(random.file!));
    const expected = new SeededRandom('multi-data').next(2 * 1024 * 1024 + 123);
    assert.equal(tarBytes.subarray(0, 5).toString(), 'data/', 'parent dir first');
    const fileStart = tarBytes.indexOf(expected.subarray(0, 64));
    assert.ok(fileStart > 0);
    assert.ok(tarBytes.subarray(fileStart, fileStart + expected.length).equals(expected));
  });

  it('caches large layers on disk, content-addressed', async () => {
    const spec = { randomBytes: 3 * 1024 * 1024, seed: 'cache-me' };
    const first = await buildLayerBlob(spec, { cache: cacheDir });
    assert.equal(first.cached, false);
    assert.ok(first.file?.startsWith(cacheDir));
    assert.equal(path.basename(first.file!), first.digest.slice('sha256:'.length));
    assert.equal(sha256File(first.file!), first.digest);

    forgetBuiltLayers();
    const second = await buildLayerBlob(spec, { cache: cacheDir });
    assert.equal(second.cached, true);
    assert.equal(second.digest, first.digest);
    assert.equal(second.diffId, first.diffId);

    // A lost blob is rebuilt, identically.
    rmSync(first.file!);
    forgetBuiltLayers();
    const third = await buildLayerBlob(spec, { cache: cacheDir });
    assert.equal(third.cached, false);
    assert.equal(third.digest, first.digest);
    assert.equal(sha256File(third.file!), first.digest);

    // Another gzip level is another blob.
    const level6 = await buildLayerBlob({ ...spec, gzipLevel: 6 }, { cache: cacheDir });
    assert.notEqual(level6.digest, first.digest);
    assert.equal(level6.diffId, first.diffId, 'same tar');
    assert.deepEqual(zlib.gunzipSync(readFileSync(level6.file!)), zlib.gunzipSync(readFileSync(first.file!)));
  });

  it('builds a large layer with bounded memory', async () => {
    const size = 192 * 1024 * 1024;
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const layer = await buildLayerBlob({ randomBytes: size, seed: 'bounded-memory' }, { cache: false });
      assert.ok(layer.file && statSync(layer.file).size === layer.size);
      assert.ok(layer.size > size);
      rmSync(layer.file);
    } finally {
      clearInterval(timer);
      forgetBuiltLayers();
    }
    const grew = (peak - before) / (1024 * 1024);
    // Garbage buffers wait for GC (~+40-70 MiB whatever the size); holding the layer would be +192 MiB or more.
    assert.ok(grew < 128, `RSS grew by ${grew.toFixed(0)} MiB while building a ${size >> 20} MiB layer`);
  });
});

describe('pushImage (checked with skopeo and umoci)', () => {
  it('pushes a multi-arch OCI image whose digests skopeo confirms and whose rootfs umoci unpacks', async () => {
    const pushed = await pushImage(plain, multiArch, { cache: cacheDir });
    assert.equal(pushed.ref, `${plain.host}/fixtures/multi:1.0`);
    assert.equal(pushed.mediaType, MediaTypes.ociIndex);
    assert.equal(pushed.platforms.length, 3);

    const raw = await inspectRaw(plain, pushed.ref);
    assert.equal(sha256(raw), pushed.digest, 'tag points at our index, byte for byte');
    const index = JSON.parse(raw.toString()) as { mediaType: string; manifests: { digest: string }[] };
    assert.equal(index.mediaType, MediaTypes.ociIndex);
    assert.deepEqual(index.manifests.map((m) => m.digest), pushed.platforms.map((p) => p.digest));
    for (const p of pushed.platforms) {
      const m = await inspectRaw(plain, `${plain.host}/fixtures/multi@${p.digest}`);
      assert.equal(sha256(m), p.digest);
      const manifest = JSON.parse(m.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      assert.equal(manifest.config.digest, p.configDigest);
      assert.deepEqual(manifest.layers.map((l) => l.digest), p.layers);
    }

    for (const [platform, overrides] of [
      ['linux/amd64', ['--override-arch', 'amd64']],
      ['linux/arm64/v8', ['--override-arch', 'arm64', '--override-variant', 'v8']],
    ] as const) {
      const layout = scratchDir(`oci-${platform.replaceAll('/', '-')}`);
      await run(skopeo, ['--insecure-policy', ...overrides, 'copy', ...access(plain, 'src-'), `docker://${pushed.ref}`, `oci:${layout}:img`]);
      const want = pushed.platforms.find((p) => p.platform === platform)!;
      const layoutIndex = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      assert.equal(layoutIndex.manifests[0]?.digest, want.digest, `skopeo copied ${platform} unchanged`);
      for (const l of want.layers) assert.ok(existsSync(path.join(layout, 'blobs', 'sha256', l.slice(7))));

      const bundle = scratchDir(`bundle-${platform.replaceAll('/', '-')}`);
      await run(umoci, ['unpack', '--rootless', '--image', `${layout}:img`, bundle]);
      const rootfs = path.join(bundle, 'rootfs');
      assert.equal(readFileSync(path.join(rootfs, 'etc/platform'), 'utf8'), `${platform}\n`);
      assert.equal(readFileSync(path.join(rootfs, 'etc/arch-note'), 'utf8'), `built for ${platform}\n`);
      assert.equal(readFileSync(path.join(rootfs, 'etc/hello.txt'), 'utf8'), 'hello from lading\n');
      assert.equal(statSync(path.join(rootfs, 'usr/local/bin/tool')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(path.join(rootfs, 'usr/local/bin/alias')), 'tool');
      assert.ok(lstatSync(path.join(rootfs, 'var/empty')).isDirectory());
      const data = readFileSync(path.join(rootfs, 'data/multi-data.bin'));
      assert.ok(data.equals(new SeededRandom('multi-data').next(2 * 1024 * 1024 + 123)));
    }
  });

  it('pushes Docker schema2 manifest lists through basic auth and TLS', async () => {
    const spec: ImageSpec = {
      repository: 'fixtures/docker-style',
      tag: '2.0',
      format: 'docker',
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: [{ files: { 'opt/app/readme': 'docker style\n' } }, { randomBytes: 300_000, seed: 'docker-style' }],
      config: { Env: ['PATH=/usr/bin:/bin', 'APP=1'], Cmd: ['/opt/app/run'] },
    };
    const pushed = await pushImage(secure, spec, { cache: cacheDir });
    assert.equal(pushed.mediaType, MediaTypes.dockerManifestList);
    assert.equal(pushed.ref, `${secure.host}/fixtures/docker-style:2.0`);

    const raw = await inspectRaw(secure, pushed.ref);
    assert.equal(sha256(raw), pushed.digest);
    assert.equal(JSON.parse(raw.toString()).mediaType, MediaTypes.dockerManifestList);
    const arm = pushed.platforms.find((p) => p.platform === 'linux/arm64')!;
    const armRaw = await inspectRaw(secure, `${secure.host}/fixtures/docker-style@${arm.digest}`);
    assert.equal(sha256(armRaw), arm.digest);
    const armManifest = JSON.parse(armRaw.toString()) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string }[] };
    assert.equal(armManifest.mediaType, MediaTypes.dockerManifest);
    assert.equal(armManifest.config.mediaType, MediaTypes.dockerConfig);
    assert.ok(armManifest.layers.every((l) => l.mediaType === MediaTypes.dockerLayerGzip));

    // Auth is really enforced.
    await assert.rejects(
      run(skopeo, ['inspect', '--raw', '--cert-dir', secure.certDir!, `docker://${pushed.ref}`]),
      /unauthorized|authentication required|401/i,
    );

    const info = JSON.parse(
      (await run(skopeo, ['--override-arch', 'arm64', 'inspect', ...access(secure, ''), `docker://${pushed.ref}`])).stdout.toString(),
    ) as { Architecture: string; Layers: string[]; Env: string[]; Digest: string };
    assert.equal(info.Architecture, 'arm64');
    assert.deepEqual(info.Layers, arm.layers);
    assert.deepEqual(info.Env, ['PATH=/usr/bin:/bin', 'APP=1']);

    const layout = scratchDir('oci-docker-style');
    await run(skopeo, ['--insecure-policy', '--override-arch', 'arm64', 'copy', ...access(secure, 'src-'), `docker://${pushed.ref}`, `oci:${layout}:img`]);
    const bundle = scratchDir('bundle-docker-style');
    await run(umoci, ['unpack', '--rootless', '--image', `${layout}:img`, bundle]);
    assert.equal(readFileSync(path.join(bundle, 'rootfs/etc/platform'), 'utf8'), 'linux/arm64\n');
    assert.equal(readFileSync(path.join(bundle, 'rootfs/opt/app/readme'), 'utf8'), 'docker style\n');
    assert.equal(statSync(path.join(bundle, 'rootfs/data/docker-style.bin')).size, 300_000);
  });

  it('pushes a single-platform image with uncompressed layers as a plain manifest', async () => {
    const pushed = await pushImage(
      plain,
      {
        repository: 'fixtures/plain-tar',
        tag: 'v1',
        compression: 'none',
        layers: [{ files: { 'hello.txt': 'uncompressed\n' } }, { randomBytes: 70_000, seed: 'plain-tar', compression: 'gzip' }],
      },
      { cache: cacheDir },
    );
    assert.equal(pushed.mediaType, MediaTypes.ociManifest);
    assert.equal(pushed.platforms.length, 1);
    assert.equal(pushed.digest, pushed.platforms[0]!.digest);
    const raw = await inspectRaw(plain, pushed.ref);
    assert.equal(sha256(raw), pushed.digest);
    const manifest = JSON.parse(raw.toString()) as { layers: { mediaType: string; digest: string }[] };
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      [MediaTypes.ociLayer, MediaTypes.ociLayerGzip, MediaTypes.ociLayer],
    );
    const built = pushed.built.platforms[0]!;
    assert.equal(built.layers[0]!.digest, built.layers[0]!.diffId, 'an uncompressed layer is its own diff_id');

    const layout = scratchDir('oci-plain-tar');
    await run(skopeo, ['--insecure-policy', 'copy', ...access(plain, 'src-'), `docker://${pushed.ref}`, `oci:${layout}:img`]);
    const bundle = scratchDir('bundle-plain-tar');
    await run(umoci, ['unpack', '--rootless', '--image', `${layout}:img`, bundle]);
    assert.equal(readFileSync(path.join(bundle, 'rootfs/hello.txt'), 'utf8'), 'uncompressed\n');
    assert.equal(readFileSync(path.join(bundle, 'rootfs/etc/platform'), 'utf8'), 'linux/amd64\n');
  });

  it('skips blobs the repository has and mounts blobs from another repository', async () => {
    const spec: ImageSpec = {
      repository: 'fixtures/dedup-a',
      tag: '1',
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: [{ files: { 'a.txt': 'a\n' } }, { randomBytes: 500_000, seed: 'dedup' }],
    };
    const first = await pushImage(plain, spec, { cache: cacheDir });
    // 2 shared layers + 2 etc/platform layers + 2 configs; the etc/platform layers are the
    // same in every image, so they may be mounted from a repository pushed earlier.
    assert.equal(first.stats.skipped, 0);
    assert.equal(first.stats.uploaded + first.stats.mounted, 6);
    assert.ok(first.stats.uploaded >= 4);
    const again = await pushImage(plain, spec, { cache: cacheDir });
    assert.equal(again.stats.uploaded, 0);
    assert.equal(again.stats.skipped, 6);

    const elsewhere = await pushImage(plain, { ...spec, repository: 'fixtures/dedup-b' }, { cache: cacheDir });
    assert.equal(elsewhere.digest, first.digest);
    assert.equal(elsewhere.stats.uploaded, 0);
    assert.equal(elsewhere.stats.mounted, 6);
    for (const digest of elsewhere.layerDigests) {
      const res = await plain.fetch(`/v2/fixtures/dedup-b/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(res.status, 200, `${digest} present in dedup-b`);
    }
  });

  it('writes a local OCI layout that umoci reads', async () => {
    const built = await buildImage(
      { repository: 'fixtures/layout', tag: 'v3', layers: [{ files: { 'layout.txt': 'from a layout\n' } }] },
      { cache: cacheDir },
    );
    const layout = scratchDir('layout');
    await writeOciLayout(layout, [built]);
    assert.deepEqual(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);
    const bundle = scratchDir('bundle-layout');
    await run(umoci, ['unpack', '--rootless', '--image', `${layout}:v3`, bundle]);
    assert.equal(readFileSync(path.join(bundle, 'rootfs/layout.txt'), 'utf8'), 'from a layout\n');
    const raw = (await run(skopeo, ['inspect', '--raw', `oci:${layout}:v3`])).stdout;
    assert.equal(sha256(raw), built.digest);
  });
});
