/**
 * The injector payload's transport format: the plan (chunk boundaries, sizes, names, labels, limits)
 * from synthetic images, and the ConfigMaps themselves from a small bundle written by the real writer,
 * reassembled byte for byte from their index; damage in the bundle or the binary refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, open, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../../../test/support/images/build.js';
import type { BuiltImage } from '../../../test/support/images/types.js';
import { writeImagesBundle } from '../../../fixtures/demo/seed.js';
import type { BundleImage } from '../bundle/layout.js';
import { BundleReader } from '../bundle/reader.js';
import { readDescription } from '../bundle/documents.js';
import { sha256Hex } from '../oci/digest.js';
import { AbortError, ExitCode } from '../errors.js';
import {
  CONFIGMAP_DATA_BYTES,
  MAX_KEYS_PER_CONFIGMAP,
  checkConfigMapQuota,
  payloadConfigMaps,
  payloadSelector,
  planPayload,
  summarizePayload,
  writePayloadDir,
  type PayloadConfigMap,
  type PayloadPlan,
} from './payload.js';

const KiB = 1024;
const hex = (n: number) => n.toString(16).padStart(64, '0');
const blob = (n: number, size: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({ digest: `sha256:${hex(n)}`, size, mediaType });
const INJECTOR = { size: 2_900_000, sha256: 'a'.repeat(64) };

function image(name: string, layers: number[], platforms = ['linux/amd64', 'linux/arm64']): BundleImage {
  return {
    source: name,
    name,
    root: blob(1, 500, 'application/vnd.oci.image.index.v1+json'),
    platforms: platforms.map((platform, p) => ({
      platform,
      manifest: blob(100 + p, 800, 'application/vnd.oci.image.manifest.v1+json'),
      config: blob(200 + p, 1500, 'application/vnd.oci.image.config.v1+json'),
      layers: layers.map((size, i) => blob(1000 * (p + 1) + i, size)),
    })),
  };
}

/** Every planned piece, checked: contiguous chunks, ConfigMaps within the limit, unique keys, valid names. */
function assertWellFormed(plan: PayloadPlan, limit: number): void {
  for (const item of [plan.injector, ...plan.blobs]) {
    let offset = 0;
    for (const chunk of item.chunks) {
      assert.equal(chunk.offset, offset);
      assert.ok(chunk.size > 0 && chunk.size <= limit);
      offset += chunk.size;
    }
    assert.equal(offset, item.size);
  }
  const keys = new Set<string>();
  for (const chunk of [plan.injector, ...plan.blobs].flatMap((i) => i.chunks)) {
    assert.ok(!keys.has(`${chunk.configMap}/${chunk.key}`), 'key used twice');
    keys.add(`${chunk.configMap}/${chunk.key}`);
    assert.match(chunk.key, /^[-._a-zA-Z0-9]{1,253}$/);
  }
  for (const cm of plan.configMaps) {
    assert.match(cm.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(cm.name.length <= 63, cm.name);
    if (cm.part !== 'index') assert.ok(cm.bytes <= limit && cm.keys <= MAX_KEYS_PER_CONFIGMAP);
  }
  assert.equal(plan.configMaps.at(-1)!.part, 'index');
}

describe('planPayload', () => {
  test('768 KiB per ConfigMap: the injector alone first, blobs cut where a ConfigMap fills, the index last', () => {
    const plan = planPayload([image('demo.lading.local/demo/web:1.0', [2 << 20, 100])], 'linux/amd64', INJECTOR, { id: 'test1' });
    assertWellFormed(plan, CONFIGMAP_DATA_BYTES);
    assert.deepEqual(
      plan.configMaps.map((c) => [c.name, c.part]),
      [
        ['lading-payload-test1-injector-0000', 'injector'],
        ['lading-payload-test1-injector-0001', 'injector'],
        ['lading-payload-test1-injector-0002', 'injector'],
        ['lading-payload-test1-injector-0003', 'injector'],
        ['lading-payload-test1-0000', 'chunks'],
        ['lading-payload-test1-0001', 'chunks'],
        ['lading-payload-test1-0002', 'chunks'],
        ['lading-payload-test1-index', 'index'],
      ],
    );
    assert.deepEqual(plan.injector.chunks.map((c) => c.size), [768 * KiB, 768 * KiB, 768 * KiB, INJECTOR.size - 3 * 768 * KiB]);
    // root, manifest, config share the first ConfigMap with the start of the 2 MiB layer
    const [root, manifest, config, big, small] = plan.blobs;
    assert.deepEqual([root, manifest, config].map((b) => b!.chunks.map((c) => c.configMap)), [['lading-payload-test1-0000'], ['lading-payload-test1-0000'], ['lading-payload-test1-0000']]);
    assert.deepEqual(big!.chunks.map((c) => c.size), [768 * KiB - 2800, 768 * KiB, (2 << 20) - (1536 * KiB - 2800)]);
    assert.deepEqual(big!.chunks.map((c) => c.key), [`${hex(1000)}.0`, `${hex(1000)}.1`, `${hex(1000)}.2`]);
    assert.deepEqual(small!.chunks, [{ configMap: 'lading-payload-test1-0002', key: `${hex(1001)}.0`, offset: 0, size: 100 }]);
    assert.deepEqual(summarizePayload(plan), { configMaps: 8, bytes: plan.bytes, largest: 768 * KiB, blobs: 5, chunks: 4 + 7 });
    assert.equal(plan.bytes, INJECTOR.size + 500 + 800 + 1500 + (2 << 20) + 100 + plan.configMaps.at(-1)!.bytes);
  });

  test('only the platform asked for: its manifest, config and layers; the root and platform manifests are served as manifests', () => {
    const plan = planPayload([image('demo.lading.local/demo/web:1.0', [3000])], 'linux/arm64', INJECTOR, { id: 'arm' });
    assert.deepEqual(
      plan.blobs.map((b) => [b.digest, b.manifest]),
      [
        [`sha256:${hex(1)}`, true],
        [`sha256:${hex(101)}`, true],
        [`sha256:${hex(201)}`, false],
        [`sha256:${hex(2000)}`, false],
      ],
    );
    assert.equal(plan.platform, 'linux/arm64');
    assert.deepEqual(plan.repositories, [
      { name: 'demo/web', tags: { '1.0': `sha256:${hex(1)}` } },
      { name: 'demo.lading.local/demo/web', tags: { '1.0': `sha256:${hex(1)}` } },
    ]);
    assert.throws(() => planPayload([image('demo/web:1.0', [3000], ['linux/amd64'])], 'linux/arm64', INJECTOR), (e: unknown) => e instanceof AbortError && /platform linux\/arm64/.test(e.message));
  });

  test('exact boundaries: a blob of exactly the room left fills the ConfigMap; one byte more starts a chunk in the next', () => {
    const limit = 10_000;
    const base = 500 + 800 + 1500; // root + manifest + config
    const exact = planPayload([image('demo/web:1.0', [limit - base, 1], ['linux/amd64'])], 'linux/amd64', { size: limit, sha256: INJECTOR.sha256 }, { dataBytes: limit, id: 'b' });
    assertWellFormed(exact, limit);
    assert.deepEqual(exact.injector.chunks.map((c) => c.size), [limit]);
    assert.deepEqual(exact.blobs.map((b) => b.chunks.map((c) => c.configMap.slice(-4))), [['0000'], ['0000'], ['0000'], ['0000'], ['0001']]);
    const over = planPayload([image('demo/web:1.0', [limit - base + 1], ['linux/amd64'])], 'linux/amd64', { size: limit + 1, sha256: INJECTOR.sha256 }, { dataBytes: limit, id: 'b' });
    assert.deepEqual(over.injector.chunks.map((c) => c.size), [limit, 1]);
    assert.deepEqual(over.blobs.at(-1)!.chunks.map((c) => [c.configMap.slice(-4), c.size]), [['0000', limit - base], ['0001', 1]]);
  });

  test('no sliver chunks: with less than 4 KiB of room a blob that does not fit starts the next ConfigMap', () => {
    const limit = 10_000;
    const plan = planPayload([image('demo/web:1.0', [limit - 2800 - 3000, 5000], ['linux/amd64'])], 'linux/amd64', INJECTOR, { dataBytes: limit, id: 's' });
    assert.deepEqual(plan.blobs.at(-1)!.chunks.map((c) => [c.configMap.slice(-4), c.size]), [['0001', 5000]]);
  });

  test(`at most ${MAX_KEYS_PER_CONFIGMAP} keys per ConfigMap`, () => {
    const plan = planPayload([image('demo/web:1.0', Array.from({ length: 600 }, () => 10), ['linux/amd64'])], 'linux/amd64', INJECTOR, { id: 'k' });
    assertWellFormed(plan, CONFIGMAP_DATA_BYTES);
    assert.deepEqual(plan.configMaps.filter((c) => c.part === 'chunks').map((c) => c.keys), [256, 256, 91]);
  });

  test('ids: derived from the content (the same payload, the same names), or given and checked', () => {
    const a = planPayload([image('demo/web:1.0', [3000])], 'linux/amd64', INJECTOR);
    const b = planPayload([image('demo/web:1.0', [3000])], 'linux/amd64', INJECTOR);
    const c = planPayload([image('demo/web:1.1', [3000])], 'linux/amd64', INJECTOR);
    assert.match(a.id, /^[0-9a-f]{12}$/);
    assert.equal(a.id, b.id);
    assert.notEqual(a.id, c.id);
    assert.throws(() => planPayload([image('demo/web:1.0', [1])], 'linux/amd64', INJECTOR, { id: 'Not_A_Label' }), /DNS label/);
    assert.equal(payloadSelector('abc'), 'app.kubernetes.io/managed-by=lading,lading.dev/payload=abc');
  });

  test('an index larger than one ConfigMap is refused before anything is written', () => {
    const layers = Array.from({ length: 9000 }, () => 100 * KiB);
    assert.throws(() => planPayload([image('demo/web:1.0', layers, ['linux/amd64'])], 'linux/amd64', INJECTOR), (e: unknown) => e instanceof AbortError && /chunk index/.test(e.message));
  });

  test('two images claiming one tag with different digests are refused', () => {
    const other = { ...image('demo/web:1.0', [3000]), root: blob(2, 500, 'application/vnd.oci.image.index.v1+json') };
    assert.throws(() => planPayload([image('demo/web:1.0', [3000]), other], 'linux/amd64', INJECTOR), /would be both/);
  });

  test('the quota pre-check names the quota, the need and what to raise it to', () => {
    const summary = summarizePayload(planPayload([image('demo/web:1.0', [3 << 20])], 'linux/amd64', INJECTOR));
    assert.doesNotThrow(() => checkConfigMapQuota(summary, { name: 'q', namespace: 'lading', hard: 100, used: 10 }));
    assert.throws(
      () => checkConfigMapQuota(summary, { name: 'cm-quota', namespace: 'lading', hard: 12, used: 5 }),
      (e: unknown) =>
        e instanceof AbortError &&
        e.exitCode === ExitCode.permission &&
        e.message === `the injector payload needs ${summary.configMaps} ConfigMaps (5.8 MiB), but ResourceQuota cm-quota in namespace lading allows 7 more (5 of 12 used)` &&
        e.hint!.includes(`at least ${5 + summary.configMaps}`),
    );
  });
});

describe('payloadConfigMaps', () => {
  let dir: string;
  let bundle: string;
  let built: BuiltImage;
  let injectorPath: string;
  let injectorBytes: Buffer;
  const limit = 64 * KiB;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lading-payload-unit-'));
    built = await buildImage({
      repository: 'demo/web',
      tag: '1.0',
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: [{ randomBytes: 200 * KiB, seed: 'payload unit' }, { files: { 'etc/motd': 'hi\n' } }],
    });
    bundle = join(dir, 'b.lading.tar');
    await writeImagesBundle(bundle, [built]);
    injectorBytes = Buffer.alloc(150 * KiB, 0x7f);
    injectorPath = join(dir, 'injector');
    await writeFile(injectorPath, injectorBytes);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function produce(path = bundle): Promise<{ plan: PayloadPlan; maps: PayloadConfigMap[]; reader: BundleReader }> {
    const reader = await BundleReader.open(path);
    const { metadata } = await readDescription(reader);
    const plan = planPayload(metadata.images, 'linux/amd64', { size: injectorBytes.length, sha256: sha256Hex(injectorBytes) }, { dataBytes: limit });
    const maps: PayloadConfigMap[] = [];
    try {
      for await (const cm of payloadConfigMaps(plan, { reader, injectorPath })) maps.push(cm);
    } finally {
      await reader.close();
    }
    return { plan, maps, reader };
  }

  test('ConfigMaps as planned, labelled and immutable; the index reassembles every blob and the injector byte for byte', async () => {
    const { plan, maps } = await produce();
    assert.deepEqual(maps.map((m) => m.metadata.name), plan.configMaps.map((c) => c.name));
    for (const [i, cm] of maps.entries()) {
      assert.equal(cm.immutable, true);
      assert.deepEqual(cm.metadata.labels, { 'app.kubernetes.io/managed-by': 'lading', 'lading.dev/payload': plan.id, 'lading.dev/payload-part': plan.configMaps[i]!.part });
      const bytes = Object.values(cm.binaryData ?? {}).reduce((sum, v) => sum + Buffer.from(v, 'base64').length, 0);
      if (cm.binaryData) assert.equal(bytes, plan.configMaps[i]!.bytes);
      assert.ok(bytes <= limit);
    }
    const index = JSON.parse(maps.at(-1)!.data!['index.json']!);
    assert.equal(index.schema, 'lading.dev/injector-payload/v1');
    assert.equal(index.platform, 'linux/amd64');
    assert.deepEqual(index.repositories[0], { name: 'demo/web', tags: { '1.0': built.digest } });
    const byName = new Map(maps.map((m) => [m.metadata.name, m]));
    const join = (chunks: Array<{ configMap: string; key: string; sha256: string; size: number }>) =>
      Buffer.concat(
        chunks.map((c) => {
          const bytes = Buffer.from(byName.get(c.configMap)!.binaryData![c.key]!, 'base64');
          assert.equal(sha256Hex(bytes), c.sha256);
          assert.equal(bytes.length, c.size);
          return bytes;
        }),
      );
    assert.ok(join(index.injector.chunks).equals(injectorBytes));
    const amd64 = built.platforms.find((p) => p.platform === 'linux/amd64')!;
    const expected = [built.digest, amd64.manifest.digest, amd64.config.digest, ...amd64.layers.map((l) => l.digest)];
    assert.deepEqual(index.blobs.map((b: { digest: string }) => b.digest), expected);
    for (const b of index.blobs) assert.equal(`sha256:${sha256Hex(join(b.chunks))}`, b.digest);
    assert.ok(index.blobs.find((b: { digest: string }) => b.digest === amd64.layers[0]!.digest).chunks.length >= 4, 'the 200 KiB layer spans ConfigMaps');
  });

  test('writePayloadDir lays ConfigMaps out as the kubelet mounts them', async () => {
    const { maps } = await produce();
    const out = await mkdtemp(join(dir, 'mounted-'));
    const dirs = await writePayloadDir(maps, out);
    assert.deepEqual(dirs, maps.map((m) => join(out, m.metadata.name)));
    const index = maps.at(-1)!;
    const root = join(out, index.metadata.name);
    assert.ok((await lstat(join(root, 'index.json'))).isSymbolicLink());
    assert.equal(await readlink(join(root, 'index.json')), '..data/index.json');
    assert.match(await readlink(join(root, '..data')), /^\.\.\d{4}_\d\d_\d\d_/);
    assert.equal(await readFile(join(root, 'index.json'), 'utf8'), index.data!['index.json']);
    const injectorMode = (await lstat(join(dirs[0]!, '..data', 'injector-00'))).mode & 0o777;
    assert.equal(injectorMode, 0o555);
  });

  test('a damaged blob in the bundle: an integrity error naming it, and its last chunk never placed in a ConfigMap', async () => {
    const damaged = join(dir, 'damaged.lading.tar');
    await writeFile(damaged, await readFile(bundle));
    const layer = built.platforms.find((p) => p.platform === 'linux/amd64')!.layers[0]!;
    const reader = await BundleReader.open(damaged);
    const entry = reader.blobEntry(layer.digest)!;
    await reader.close();
    const file = await open(damaged, 'r+');
    await file.write(Buffer.from([0xff ^ (await readFile(damaged))[entry.offset + 100]!]), 0, 1, entry.offset + 100);
    await file.close();
    const reader2 = await BundleReader.open(damaged);
    const { metadata } = await readDescription(reader2);
    const plan = planPayload(metadata.images, 'linux/amd64', { size: injectorBytes.length, sha256: sha256Hex(injectorBytes) }, { dataBytes: limit });
    const seen: PayloadConfigMap[] = [];
    const run = async () => {
      for await (const cm of payloadConfigMaps(plan, { reader: reader2, injectorPath })) seen.push(cm);
    };
    await assert.rejects(run, (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.integrity && e.message.includes(layer.digest));
    await reader2.close();
    const chunks = plan.blobs.find((b) => b.digest === layer.digest)!.chunks;
    assert.ok(chunks.length >= 4);
    const placed = new Set(seen.flatMap((m) => Object.keys(m.binaryData ?? {})));
    assert.ok(!placed.has(chunks.at(-1)!.key), 'the last chunk of the damaged blob was held back');
    assert.ok(!seen.some((m) => m.data), 'no index');
  });

  test('an injector binary that is not the one planned is refused', async () => {
    const reader = await BundleReader.open(bundle);
    const { metadata } = await readDescription(reader);
    const plan = planPayload(metadata.images, 'linux/amd64', { size: injectorBytes.length, sha256: 'b'.repeat(64) }, { dataBytes: limit });
    const drain = async () => {
      for await (const _ of payloadConfigMaps(plan, { reader, injectorPath })) void _;
    };
    await assert.rejects(drain, (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.integrity && e.message.includes('injector binary'));
    await reader.close();
  });
});
