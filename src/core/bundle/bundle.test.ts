import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from '../oci/digest.js';
import { BundleWriter } from './writer.js';
import { BundleReader } from './reader.js';
import { verifyBundle } from './verify.js';
import { RACY_MS } from './verified-record.js';
import { inspectBundle } from './inspect.js';
import { METADATA_SCHEMA, type BundleMetadata } from './layout.js';
import { readDescription } from './documents.js';

interface Fixture {
  dir: string;
  path: string;
  layer: Buffer;
  layerDigest: string;
}

/** A minimal one-image bundle written through the real writer. */
async function writeFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-bundle-test-'));
  const layer = Buffer.alloc(3000, 7);
  const layerDigest = sha256Digest(layer);
  const layerFile = join(dir, 'layer');
  await writeFile(layerFile, layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = sha256Digest(manifest);
  const path = join(dir, 'out.tar');
  const writer = await BundleWriter.create(path);
  await writer.addBlobBuffer(manifestDigest, manifest);
  await writer.addBlobBuffer(sha256Digest(config), config);
  await writer.addBlobFile({ digest: layerDigest, size: layer.length }, layerFile, 'layer');
  await writer.addBlobFile({ digest: layerDigest, size: layer.length }, layerFile, 'layer again');
  const name = 'example.com/test/app:1.0';
  const metadata: BundleMetadata = {
    schema: METADATA_SCHEMA,
    name: 't',
    version: '1',
    createdAt: new Date(0).toISOString(),
    tool: { name: 'lading', version: 'test' },
    platforms: ['linux/amd64'],
    images: [
      {
        source: name,
        name,
        root: { digest: manifestDigest, size: manifest.length, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        platforms: [
          {
            platform: 'linux/amd64',
            manifest: { digest: manifestDigest, size: manifest.length, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
            config: { digest: sha256Digest(config), size: config.length, mediaType: 'application/vnd.oci.image.config.v1+json' },
            layers: [{ digest: layerDigest, size: layer.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
          },
        ],
      },
    ],
  };
  const written = await writer.finish(
    {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': name, 'io.containerd.image.name': name },
        },
      ],
    },
    metadata,
  );
  assert.equal(written.path, path);
  return { dir, path, layer, layerDigest };
}

/** Overwrites one byte inside the fixture's layer, in place (size and inode unchanged). */
async function zeroLayerByte(f: Fixture): Promise<void> {
  const reader = await BundleReader.open(f.path);
  const entry = reader.blobEntry(f.layerDigest)!;
  await reader.close();
  const handle = await open(f.path, 'r+');
  await handle.write(Buffer.from([0]), 0, 1, entry.offset + 100);
  await handle.close();
}

test('writes an OCI layout tar with each blob once, and reads it back without reading blobs', async (t) => {
  const f = await writeFixture();
  t.after(() => rm(f.dir, { recursive: true, force: true }));
  const reader = await BundleReader.open(f.path);
  try {
    const names = [...reader.entries.keys()];
    assert.equal(names[0], 'oci-layout');
    assert.deepEqual(names.slice(-2), ['index.json', 'lading.json']);
    assert.equal(names.filter((n) => n.endsWith(f.layerDigest.slice(7))).length, 1, 'the layer is stored once');
    assert.equal((await readDescription(reader)).metadata.images[0]?.name, 'example.com/test/app:1.0');
  } finally {
    await reader.close();
  }
  assert.deepEqual(await readdir(f.dir), ['layer', 'out.tar'], 'no temporary file is left');
  const report = await verifyBundle(f.path);
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.blobsChecked, 3);
  const inspected = await inspectBundle(f.path);
  assert.equal(inspected.layers.unique, 1);
  assert.equal(inspected.layers.totalBytes, f.layer.length);
  assert.equal(inspected.layers.savedBytes, 0);
});

test('verify names the corrupted blob', async (t) => {
  const f = await writeFixture();
  t.after(() => rm(f.dir, { recursive: true, force: true }));
  await zeroLayerByte(f);
  const report = await verifyBundle(f.path);
  assert.equal(report.ok, false);
  assert.ok(report.problems.some((p) => p.blob === f.layerDigest && /does not match its digest/.test(p.message)), JSON.stringify(report.problems));
  assert.ok(report.problems.some((p) => p.image === 'example.com/test/app:1.0 (linux/amd64)' && /corrupted/.test(p.message)));
});

test('a note of a whole hash spares the next verify that trusts it, and only while the file is unchanged', async (t) => {
  const f = await writeFixture();
  t.after(() => rm(f.dir, { recursive: true, force: true }));
  const notes = join(f.dir, 'notes');
  const install = { note: true, trust: true, dir: notes };
  // A file written this recently gets no note (its times could hide a write that follows at once).
  assert.equal((await verifyBundle(f.path, { notes: install })).ok, true);
  assert.equal((await verifyBundle(f.path, { notes: install })).hashedEarlier, undefined, 'just written: no note');
  await new Promise((resolve) => setTimeout(resolve, RACY_MS + 100));

  const first = await verifyBundle(f.path, { notes: install });
  assert.equal(first.ok, true);
  assert.equal(first.hashedEarlier, undefined, 'no note yet: hashed in full');
  assert.equal(first.bytesChecked > 0, true);

  let hashedBytes = 0;
  const second = await verifyBundle(f.path, { notes: install, onBytes: (n) => (hashedBytes += n) });
  assert.equal(second.ok, true);
  assert.match(second.hashedEarlier ?? '', /^\d{4}-\d\d-\d\dT/);
  assert.equal(hashedBytes, 0, 'no blob byte read again');
  assert.equal(second.bytesChecked, 0);

  // A note that is not one (too large, not JSON) is no note: hashed in full.
  const [noteFile] = await readdir(notes);
  const note = await readFile(join(notes, noteFile!));
  await writeFile(join(notes, noteFile!), Buffer.alloc(100_000, 32));
  assert.equal((await verifyBundle(f.path, { notes: { ...install, note: false } })).hashedEarlier, undefined, 'a 100 kB note');
  await writeFile(join(notes, noteFile!), '{');
  assert.equal((await verifyBundle(f.path, { notes: { ...install, note: false } })).hashedEarlier, undefined, 'a note that is not JSON');
  await writeFile(join(notes, noteFile!), note);

  // `lading verify` never trusts a note.
  assert.equal((await verifyBundle(f.path, { notes: { note: true, trust: false, dir: notes } })).hashedEarlier, undefined);

  // One byte changed in place: size and inode stay, mtime and ctime do not, so it is hashed again and refused.
  await zeroLayerByte(f);
  const changed = await verifyBundle(f.path, { notes: install });
  assert.equal(changed.hashedEarlier, undefined);
  assert.equal(changed.ok, false);
  assert.ok(changed.problems.some((p) => p.blob === f.layerDigest && /does not match its digest/.test(p.message)), JSON.stringify(changed.problems));
  // A failed verify writes no note: the next run hashes again (and fails again).
  assert.equal((await verifyBundle(f.path, { notes: install })).ok, false);

  // The same bytes under another name are another file: hashed in full.
  const copy = join(f.dir, 'copy.tar');
  await writeFile(copy, await readFile(f.path));
  assert.equal((await verifyBundle(copy, { notes: install })).hashedEarlier, undefined);
});

test('a truncated bundle is refused with a clear message', async (t) => {
  const f = await writeFixture();
  t.after(() => rm(f.dir, { recursive: true, force: true }));
  await truncate(f.path, 2048);
  await assert.rejects(BundleReader.open(f.path), /truncated/);
  await assert.rejects(BundleReader.open(join(f.dir, 'missing.tar')), /no such file/);
  await writeFile(join(f.dir, 'junk.tar'), Buffer.alloc(1024, 65));
  await assert.rejects(BundleReader.open(join(f.dir, 'junk.tar')), /damaged tar header/);
});

test('abort leaves nothing behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-bundle-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const writer = await BundleWriter.create(join(dir, 'out.tar'));
  await writer.addBlobBuffer(sha256Digest('x'), Buffer.from('x'));
  await writer.abort();
  assert.deepEqual(await readdir(dir), []);
});
