/**
 * Registry mode's push side against the real docker-registry: a bundle's
 * images (every platform it carries, the index byte for byte) pushed with
 * chunked uploads; a connection cut in the middle of a blob is continued or,
 * where the registry dropped the upload, started again; skopeo (the oracle)
 * finds the same digests; a second push sends nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { readDescription } from '../../src/core/bundle/documents.js';
import { parseReference } from '../../src/core/oci/reference.js';
import { RegistryPusher } from '../../src/core/registry/push.js';
import { pushBundleImage } from '../../src/core/registry/push-image.js';
import { DirectTransport } from '../../src/core/registry/transport.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';
import { startTcpCutProxy } from '../support/tcp-cut-proxy.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { requireTool } from '../support/tools.js';

const run = promisify(execFile);
let work: string;
let source: TestRegistry;
let bundle: string;
let skopeo: string;

before(async () => {
  skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
  work = await mkdtemp(join(tmpdir(), 'lading-push-'));
  source = await startRegistry();
  const web = await pushImage(source, {
    repository: 'push/web',
    tag: '1.0',
    platforms: ['linux/amd64', 'linux/arm64'],
    layers: [{ randomBytes: 6 << 20, seed: 'push-base' }, { files: { 'srv/index.html': 'hi\n' } }],
  });
  const spec = join(work, 'lading.yaml');
  await writeFile(spec, specText([web.ref]));
  bundle = join(work, 'bundle.tar');
  const created = await runLading(['create', spec, '-o', bundle, '--json'], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function pushAll(transport: DirectTransport, chunkBytes: number) {
  const reader = await BundleReader.open(bundle);
  try {
    const { metadata } = await readDescription(reader);
    const pusher = new RegistryPusher(transport, { chunkBytes });
    const reports = [];
    for (const image of metadata.images) {
      const ref = parseReference(image.name);
      reports.push(await pushBundleImage(pusher, reader, image, { repository: ref.repository, tag: ref.tag }));
    }
    return { pusher, reports, metadata };
  } finally {
    await reader.close();
  }
}

test('every platform and the index byte for byte; a cut mid-blob is survived; a second push sends nothing', async () => {
  const target = await startRegistry();
  try {
    const [host, port] = target.host.split(':');
    // The first connection that has sent more than 512 KiB is cut: inside the first chunk of the 6 MiB layer.
    const proxy = await startTcpCutProxy({ host: host!, port: Number(port) }, 512 << 10);
    try {
      const { pusher, reports, metadata } = await pushAll(new DirectTransport(`http://${proxy.host}:${proxy.port}`), 1 << 20);
      assert.equal(proxy.cuts(), 1, 'the connection was cut once');
      assert.equal(pusher.stats.resumed + pusher.stats.restarted, 1, `the pusher noticed the cut: ${JSON.stringify(pusher.stats)}`);
      const image = metadata.images[0]!;
      assert.equal(reports[0]!.uploaded, 6, 'two configs, the shared base, the files layer and one platform layer each');
      process.stdout.write(`# after the cut: ${JSON.stringify(pusher.stats)}\n`);
      assert.ok(reports[0]!.bytesSent >= 6 << 20);
      // skopeo reads back the index exactly as the source served it, and each platform's manifest.
      const raw = await run(skopeo, ['inspect', '--raw', '--tls-verify=false', `docker://${target.host}/push/web:1.0`], { encoding: 'buffer' });
      const { createHash } = await import('node:crypto');
      assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, image.root.digest);
      const copy = join(work, 'copy');
      await run(skopeo, ['copy', '--src-tls-verify=false', '--override-arch', 'arm64', `docker://${target.host}/push/web@${image.root.digest}`, `oci:${copy}:web`]);
    } finally {
      await proxy.stop();
    }
    const again = await pushAll(new DirectTransport(target.url), 1 << 20);
    assert.deepEqual(
      again.reports.map((r) => ({ uploaded: r.uploaded, manifestsPut: r.manifestsPut, bytesSent: r.bytesSent })),
      [{ uploaded: 0, manifestsPut: 0, bytesSent: 0 }],
    );
    assert.equal(again.reports[0]!.present, 6);
  } finally {
    await target.stop();
  }
});

test('a chunk lost before it reached the registry: the upload continues from the offset the registry reports', async () => {
  const target = await startRegistry();
  try {
    // The third PATCH (bytes 2-3 MiB of the 6 MiB layer) never reaches the registry: a proxy in between answers 503.
    const proxy = await startFaultProxy(target.url, [{ match: /^PATCH /, fault: { kind: 'status', status: 503 }, after: 2, times: 1 }]);
    try {
      const { pusher } = await pushAll(new DirectTransport(`http://${proxy.host}`), 1 << 20);
      assert.deepEqual(pusher.stats, { resumed: 1, restarted: 0 }, proxy.log.join('\n'));
      const patches = proxy.log.filter((l) => l.startsWith('PATCH '));
      assert.match(patches[2]!, /-> 503/);
      // Continued, not started over: one upload session for the layer, no more PATCHes than chunks plus the lost one.
      assert.equal(proxy.log.filter((l) => /^GET \/v2\/push\/web\/blobs\/uploads\//.test(l)).length, 1, 'one status request');
    } finally {
      await proxy.stop();
    }
    const raw = await run(skopeo, ['inspect', '--tls-verify=false', '--override-arch', 'amd64', `docker://${target.host}/push/web:1.0`]);
    assert.match(raw.stdout, /"Digest": "sha256:/);
  } finally {
    await target.stop();
  }
});
