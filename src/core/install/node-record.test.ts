import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecord, recordName, sinceInstall, withInstall, type RecordedInstall } from './node-record.js';
import { readNodeRecord, recordInstall } from './record-store.js';
import { digestOf } from './test-fixtures.js';

const install = (bundle: string, bootID: string, images: RecordedInstall['images']): RecordedInstall => ({
  bundle: { digest: digestOf(bundle), name: 'site', version: '1.0' },
  installedAt: '2026-12-01T10:00:00.000Z',
  bootID,
  runtime: 'containerd://2.2.9 (/run/containerd/containerd.sock)',
  images,
});

describe('the node record', () => {
  it('keeps one entry per bundle, newest first, and the last sandbox image named', () => {
    let record = withInstall(undefined, 'n1', install('a', 'boot-1', []), 'registry.k8s.io/pause:3.10');
    record = withInstall(record, 'n1', install('b', 'boot-1', []));
    record = withInstall(record, 'n1', install('a', 'boot-2', []));
    assert.deepEqual(record.installs.map((i) => [i.bundle.digest.slice(7, 8), i.bootID]), [['a', 'boot-2'], ['b', 'boot-1']]);
    assert.equal(record.sandboxImage, 'registry.k8s.io/pause:3.10', 'an install that could not tell keeps the one known');
    assert.equal(parseRecord(JSON.stringify(record), 'n1')!.sandboxImage, 'registry.k8s.io/pause:3.10');
    assert.equal(parseRecord(JSON.stringify({ ...record, sandboxImage: 'x; rm -rf /' }), 'n1')!.sandboxImage, undefined, 'a name that is no image name is dropped');
  });

  it('is read back as untrusted input: another schema, another node, bad entries are dropped', () => {
    const good = withInstall(undefined, 'n1', install('a', 'boot-1', [{ name: 'x:1', digest: digestOf('1'), pinnedBy: 'lading' }]));
    assert.deepEqual(parseRecord(JSON.stringify(good), 'n1'), good);
    assert.equal(parseRecord(JSON.stringify(good), 'n2'), undefined, 'a record copied from another node is not this node\'s');
    assert.equal(parseRecord('{"schema": "other"}', 'n1'), undefined);
    assert.equal(parseRecord('not json', 'n1'), undefined);
    assert.equal(parseRecord('['.repeat(100) + ']'.repeat(100), 'n1'), undefined, 'too deep');
    const bad = { ...good, installs: [{ ...good.installs[0], bundle: { digest: '../../x', name: 'n', version: 'v' } }, { junk: 1 }, good.installs[0]] };
    assert.deepEqual(parseRecord(JSON.stringify(bad), 'n1')!.installs.length, 1);
    const odd = { ...good, installs: [{ ...good.installs[0], images: [{ name: 'x:1', digest: digestOf('1'), pinnedBy: 'everyone' }, { name: 5 }] }] };
    assert.deepEqual(parseRecord(JSON.stringify(odd), 'n1')!.installs[0]!.images, [{ name: 'x:1', digest: digestOf('1') }]);
  });

  it('names: the node name when it makes a ConfigMap name, a hash otherwise', () => {
    assert.equal(recordName('worker-1.example.com'), 'lading-node-worker-1.example.com');
    assert.match(recordName('x'.repeat(250)), /^lading-node-[a-f0-9]{32}$/);
    assert.match(recordName('Upper_Case'), /^lading-node-[a-f0-9]{32}$/);
  });
});

describe('sinceInstall: what a reset did', () => {
  const record = withInstall(undefined, 'n1', install('a', 'boot-1', [{ name: 'x:1', digest: digestOf('1') }, { name: 'y:1', digest: digestOf('2') }, { name: 'z:1', digest: digestOf('3') }]));
  const now = [
    { name: 'x:1', digest: digestOf('1'), outcome: 'present' as const, pinned: true },
    { name: 'y:1', digest: digestOf('2'), outcome: 'missing' as const },
    { name: 'z:1', digest: digestOf('3'), outcome: 'present' as const, pinned: false },
  ];

  it('a new boot id is a reboot; survived, lost and unpinned are named', () => {
    assert.deepEqual(sinceInstall(record, digestOf('a'), 'boot-2', now), {
      installedAt: '2026-12-01T10:00:00.000Z',
      rebooted: true,
      bootIdThen: 'boot-1',
      bootIdNow: 'boot-2',
      survived: ['x:1', 'z:1'],
      lost: ['y:1'],
      unpinned: ['z:1'],
    });
    assert.equal(sinceInstall(record, digestOf('a'), 'boot-1', now)!.rebooted, false);
    assert.equal(sinceInstall(record, digestOf('a'), '', now)!.rebooted, false, 'a node that reports no boot id is not called rebooted');
  });

  it('another bundle, or no record: nothing to compare', () => {
    assert.equal(sinceInstall(record, digestOf('b'), 'boot-2', now), undefined);
    assert.equal(sinceInstall(undefined, digestOf('a'), 'boot-2', now), undefined);
  });
});

describe('record-store', () => {
  /** An in-memory ConfigMap API with resource versions, as the API server answers. */
  function fakeCore() {
    const maps = new Map<string, any>();
    let version = 0;
    const conflict = Object.assign(new Error('conflict'), { code: 409 });
    const fake = {
      maps,
      /** Writes made by "another run" right after the next read. */
      interleave: [] as Array<() => void>,
      readNamespacedConfigMap: async ({ name }: { name: string }) => {
        const found = maps.get(name);
        if (!found) throw Object.assign(new Error('not found'), { code: 404 });
        const copy = structuredClone(found);
        fake.interleave.shift()?.();
        return copy;
      },
      createNamespacedConfigMap: async ({ body }: { body: any }) => {
        if (maps.has(body.metadata.name)) throw conflict;
        maps.set(body.metadata.name, { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } });
        return body;
      },
      replaceNamespacedConfigMap: async ({ name, body }: { name: string; body: any }) => {
        if (maps.get(name)?.metadata.resourceVersion !== body.metadata.resourceVersion) throw conflict;
        maps.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } });
        return body;
      },
    };
    return fake;
  }

  it('creates the record, labelled, and adds to it; a concurrent write is read again, not lost', async () => {
    const core = fakeCore();
    assert.equal(await readNodeRecord(core as any, 'lading-system', 'n1'), undefined);
    await recordInstall(core as any, 'lading-system', 'n1', install('a', 'boot-1', []));
    const stored = core.maps.get('lading-node-n1');
    assert.deepEqual(stored.metadata.labels, { 'app.kubernetes.io/managed-by': 'lading', 'lading.dev/record': 'node', 'lading.dev/node': 'n1' });
    core.interleave.push(() => {
      const other = withInstall(parseRecord(core.maps.get('lading-node-n1').data['record.json'], 'n1'), 'n1', install('c', 'boot-1', []));
      core.maps.set('lading-node-n1', { ...core.maps.get('lading-node-n1'), data: { 'record.json': JSON.stringify(other) }, metadata: { ...core.maps.get('lading-node-n1').metadata, resourceVersion: '99' } });
    });
    await recordInstall(core as any, 'lading-system', 'n1', install('b', 'boot-1', []));
    const record = await readNodeRecord(core as any, 'lading-system', 'n1');
    assert.deepEqual(record!.installs.map((i) => i.bundle.digest.slice(7, 8)), ['b', 'c', 'a']);
  });

  it('a refusal other than a conflict names the ConfigMap', async () => {
    const core = fakeCore();
    core.createNamespacedConfigMap = async () => {
      throw Object.assign(new Error('forbidden'), { code: 403, body: '{"message":"configmaps is forbidden"}' });
    };
    await assert.rejects(recordInstall(core as any, 'ns', 'n1', install('a', 'b', [])), /write ConfigMap ns\/lading-node-n1: forbidden: configmaps is forbidden/);
  });
});
