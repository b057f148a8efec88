/**
 * Delta bundles on a containerd node and a CRI-O node (issue "Carry-in and updates", §4): a delta whose
 * base the nodes lack is refused before any node changes, naming node and layers; after the base, the
 * delta streams only its new layer and the kubelet starts the new image without a pull; `lading inventory`
 * records what both runtimes hold, `create --against` leaves that out, and a delta made against another
 * cluster's inventory is refused. Offline: the registry is stopped before anything is installed.
 *
 * e2e-nodes: containerd,crio
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connect, createNamespace, deleteNamespace, podSpec, ssh, waitForPodRunning, type ClusterNode, type TestCluster } from './helpers/cluster.js';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';

const run = promisify(execFile);

interface NodeJson {
  node: string;
  images: Array<{ name: string; outcome: string }>;
  injectedBytes?: number;
  smoke?: { ok: boolean; detail: string };
}

describe('delta bundles and inventories on both runtimes', () => {
  let c: TestCluster;
  let cd: ClusterNode;
  let crio: ClusterNode;
  let work: string;
  let ns: string | undefined;
  const images: Record<'v1' | 'v2' | 'v3', PushedImage | undefined> = { v1: undefined, v2: undefined, v3: undefined };
  const bundles = { v1: '', v2delta: '', v3: '' };
  let spec3 = '';
  let registryPort = 0;
  const BASE_BYTES = 8 << 20;

  const crictlTags = async (node: ClusterNode) => (JSON.parse((await ssh(c, node.key, ['crictl', 'images', '-o', 'json'])).stdout).images as Array<{ repoTags: string[] }>).flatMap((i) => i.repoTags);
  const install = (bundle: string, json = true) => runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', ...(json ? ['--json'] : ['--no-tui'])], { timeoutMs: 400_000 });
  const create = async (name: string, refs: string[], extra: string[] = []) => {
    const spec = join(work, `${name}.yaml`);
    await writeFile(spec, specText(refs, ['linux/amd64']));
    const out = join(work, `${name}.tar`);
    const r = await runLading(['create', spec, '-o', out, ...extra], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return { spec, out };
  };

  before(async () => {
    c = await connect();
    cd = c.nodes.find((n) => n.runtime === 'containerd')!;
    crio = c.nodes.find((n) => n.runtime === 'crio')!;
    assert.ok(cd && crio, `these specs need a containerd node and a CRI-O node; the cluster has ${c.nodes.map((n) => n.key).join(', ') || 'none listed'}`);
    const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-delta-'));
    await writeFile(join(work, 'app.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await run(gcc, ['-static', '-Os', '-o', join(work, 'app'), join(work, 'app.c')]);
    const binary = await readFile(join(work, 'app'));
    // Kept on disk: the spec that creates against the inventory starts it again, on the same port.
    const registry = await startRegistry({ stateDir: join(work, 'registry'), keepState: true });
    registryPort = registry.port;
    try {
      // Three versions of one application: the same large base layer, a small layer of their own.
      const version = (tag: 'v1' | 'v2' | 'v3') =>
        pushImage(registry, {
          repository: 'e2e/delta-app',
          tag,
          layers: [{ randomBytes: BASE_BYTES, seed: 'e2e-delta-base' }, { files: { app: { content: binary, mode: 0o755 }, version: `${tag}\n` } }],
          config: { Entrypoint: ['/app'] },
        });
      for (const tag of ['v1', 'v2', 'v3'] as const) images[tag] = await version(tag);
      bundles.v1 = (await create('v1', [images.v1!.ref])).out;
      bundles.v2delta = (await create('v2-delta', [images.v2!.ref], ['--since', bundles.v1])).out;
      spec3 = join(work, 'v3.yaml');
      await writeFile(spec3, specText([images.v3!.ref], ['linux/amd64']));
    } finally {
      await registry.stop();
    }
    ns = await createNamespace(c, 'delta');
  });

  after(async () => {
    if (c) await deleteNamespace(c, ns);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a delta whose base the nodes do not hold is refused before any node changes, naming each node and a layer', async () => {
    const r = await install(bundles.v2delta, false);
    assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
    for (const node of [cd, crio]) assert.match(r.stderr, new RegExp(`${node.name.replace(/[.]/g, '\\.')} lacks \\d+ of them \\(sha256:[a-f0-9]{64}`), r.stderr);
    assert.match(r.stderr, /Nothing was changed on any node/);
    for (const node of [cd, crio]) assert.ok(!(await crictlTags(node)).includes(images.v2!.ref), `${node.key}: v2 not imported`);
  });

  it('after the base, the delta streams only its own layer to both nodes, and the kubelet starts it without a pull', async () => {
    const base = await install(bundles.v1);
    assert.equal(base.code, 0, `${base.stdout}\n${base.stderr}`);
    const r = await install(bundles.v2delta);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as { nodes: NodeJson[] };
    const [deltaBytes, baseBytes] = [(await stat(bundles.v2delta)).size, (await stat(bundles.v1)).size];
    process.stdout.write(`# delta bundle ${deltaBytes} bytes against the whole v1 bundle's ${baseBytes}\n`);
    for (const node of [cd, crio]) {
      const n = report.nodes.find((x) => x.node === node.name)!;
      assert.deepEqual(n.images.map((i) => [i.name, i.outcome]), [[images.v2!.ref, 'injected']], node.key);
      assert.ok((n.injectedBytes ?? 0) < 1 << 20, `${node.key}: only the small layer, manifest and config went out (${n.injectedBytes} bytes)`);
      assert.equal(n.smoke?.ok, true, n.smoke?.detail);
      const name = `v2-${node.key}`;
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(name, node.name, images.v2!.ref) });
      await waitForPodRunning(c, ns!, name);
    }
  });

  it('lading inventory records both runtimes; create --against it leaves out what both hold; another cluster\'s inventory is refused', async () => {
    const inventoryFile = join(work, 'inventory.json');
    const inv = await runLading(['inventory', '--kubeconfig', c.kubeconfigPath, '-o', inventoryFile, '--json'], { timeoutMs: 300_000 });
    assert.equal(inv.code, 0, `${inv.stdout}\n${inv.stderr}`);
    const inventory = JSON.parse(await readFile(inventoryFile, 'utf8')) as { cluster: { uid: string }; nodes: Array<{ name: string; images: Record<string, string>; blobs: string[] }> };
    const kubeSystem = await c.core.readNamespace({ name: 'kube-system' });
    assert.equal(inventory.cluster.uid, kubeSystem.metadata!.uid);
    const shared = images.v1!.layerDigests.filter((d) => images.v3!.layerDigests.includes(d));
    assert.ok(shared.length > 0);
    for (const node of [cd, crio]) {
      const n = inventory.nodes.find((x) => x.name === node.name)!;
      assert.equal(n.images[images.v2!.ref], images.v2!.digest, `${node.key}: v2 listed with its digest`);
      for (const layer of shared) assert.ok(n.blobs.includes(layer), `${node.key}: the shared layer ${layer} is held`);
    }

    // The connected side again: the registry back for create, stopped before anything reaches the cluster.
    const delta = join(work, 'v3-delta.tar');
    const foreignDelta = join(work, 'foreign-delta.tar');
    const foreign = join(work, 'foreign.json');
    await writeFile(foreign, JSON.stringify({ ...inventory, cluster: { ...inventory.cluster, uid: '00000000-0000-4000-8000-000000000000' } }));
    const registry = await startRegistry({ stateDir: join(work, 'registry'), keepState: true, port: registryPort });
    try {
      const made = await runLading(['create', spec3, '-o', delta, '--against', inventoryFile, '--json'], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(made.code, 0, `${made.stdout}\n${made.stderr}`);
      const madeForeign = await runLading(['create', spec3, '-o', foreignDelta, '--against', foreign], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(madeForeign.code, 0, madeForeign.stderr);
    } finally {
      await registry.stop();
    }
    const inspected = await runLading(['inspect', delta]);
    assert.match(inspected.stdout, new RegExp(`Delta +against the inventory taken \\S+ of cluster ${kubeSystem.metadata!.uid}`));
    assert.ok((await stat(delta)).size < 1 << 20, 'the 8 MiB base layer is left out');
    const r = await install(delta);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const node of [cd, crio]) assert.ok((await crictlTags(node)).includes(images.v3!.ref), `${node.key}: v3 imported`);

    // The same file claiming another cluster: refused by identity, before any node is asked.
    const refused = await install(foreignDelta, false);
    assert.equal(refused.code, 7, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /made against the inventory of another cluster \(kube-system uid 00000000-0000-4000-8000-000000000000; this cluster's is /);
  });
});
