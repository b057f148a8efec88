import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heldEverywhere, inventoryBase, makeInventory, parseInventory, readInventoryBase, type InventoryNode } from './inventory.js';
import { parseStoreLayers } from '../runtimes/containers-storage.js';
import { parseDigestLines } from '../runtimes/containerd.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const node = (name: string, blobs: string[]): InventoryNode => ({ name, platform: 'linux/amd64', runtime: 'containerd://2.2.0', images: { 'example.com/a:1': d('a') }, blobs });
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('inventory', () => {
  const inventory = makeInventory({ server: 'https://10.0.0.1:6443', uid: '0b6c5a2e-1f0e-4d5c-9a1b-2c3d4e5f6a7b' }, [node('b', [d('1'), d('2'), d('3')]), node('a', [d('2'), d('3'), d('4')])], undefined, new Date('2026-12-02T10:13:28.123Z'));

  it('what a delta may leave out: the blobs every node holds', () => {
    assert.deepEqual([...heldEverywhere(inventory)].sort(), [d('2'), d('3')]);
    assert.deepEqual(inventory.nodes.map((n) => n.name), ['a', 'b'], 'nodes in name order');
    const withRegistry = { ...inventory, registry: { service: 'lading-system/lading-registry', images: {}, blobs: [d('3')] } };
    assert.deepEqual([...heldEverywhere(parseInventory('inv.json', bytes(withRegistry)))], [d('3')], 'and what the registry holds');
  });

  it('names itself by its bytes and the cluster by its uid', () => {
    const text = bytes(inventory);
    const base = inventoryBase(parseInventory('inv.json', text), text);
    assert.equal(base.name, 'inventory');
    assert.equal(base.version, '20261202T101328Z');
    assert.equal(base.cluster, '0b6c5a2e-1f0e-4d5c-9a1b-2c3d4e5f6a7b');
    assert.match(base.metadataDigest, /^sha256:[a-f0-9]{64}$/);
  });

  it('refuses what is not an inventory, saying why', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ schema: 'lading.bundle/v1' }, /expected "schema": "lading\.inventory\/v1"/],
      [{ ...inventory, nodes: [] }, /lists no node/],
      [{ ...inventory, cluster: { server: 'x', uid: 'a b' } }, /cluster is not \{server, uid\}/],
      [{ ...inventory, nodes: [{ ...node('a', []), blobs: ['sha256:XYZ'] }] }, /nodes\[0\]\.blobs is not a list of sha256 digests/],
      [{ ...inventory, nodes: [{ ...node('a', []), images: { x: 'latest' } }] }, /nodes\[0\]\.images is not name -> digest/],
    ];
    for (const [value, message] of cases) assert.throws(() => parseInventory('inv.json', bytes(value)), message);
    assert.throws(() => parseInventory('inv.json', Buffer.from('{"schema":')), /inv\.json is not a lading inventory/);
  });

  it('reads only a regular file, so a device or a directory named as the inventory is one line, not a hang', async () => {
    await assert.rejects(readInventoryBase('/dev/zero'), /\/dev\/zero is not a lading inventory: not a regular file/);
    await assert.rejects(readInventoryBase('/tmp'), /\/tmp is not a lading inventory: not a regular file/);
    await assert.rejects(readInventoryBase('/nonexistent/inv.json'), /cannot read the inventory \/nonexistent\/inv\.json: ENOENT/);
  });
});

describe('what runtimes hold', () => {
  it('containerd: digests one per line, anything else ignored', () => {
    assert.deepEqual([...parseDigestLines(`${d('a')}\n  ${d('b')}  \nsha256:short\nnoise\n`)], [d('a'), d('b')]);
  });

  it('containers-storage: the compressed and uncompressed digests its layers were made from', () => {
    const text = JSON.stringify([{ id: 'x', 'compressed-diff-digest': d('c'), 'diff-digest': d('e') }, { id: 'y', 'diff-digest': d('f') }, { id: 'z' }]);
    assert.deepEqual([...parseStoreLayers(text)!].sort(), [d('c'), d('e'), d('f')]);
    assert.equal(parseStoreLayers('{"not":"a list"}'), undefined);
    assert.equal(parseStoreLayers('garbage'), undefined);
  });
});
