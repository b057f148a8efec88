/**
 * Registry mode (issue 9) on both nodes: `install --registry` puts the registry image (the distribution
 * registry the harness builds from its Go module) on one node by node injection, runs it there, pushes
 * every image through the API server and points the selected nodes at it; pods by the images' original
 * names with `imagePullPolicy: Always` then start while no registry outside the cluster exists. The cluster
 * starts with the containerd node only; the CRI-O node joins after the first install (test/cluster/up
 * --join), as a machine added next month: `install --registry --nodes NEW` only writes its mirror
 * configuration, pushes nothing, and it pulls everything. The registry and its data survive a hard reset of
 * its node.
 *
 * e2e-nodes: containerd
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connect, createNamespace, deleteNamespace, joinNode, pinnedVersions, podSpec, resetNode, ssh, waitFor, waitForPodRunning, type ClusterNode, type TestCluster } from './helpers/cluster.js';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { startTcpCutProxy } from '../support/tcp-cut-proxy.js';
import { runLading, specText } from '../support/lading.js';

const run = promisify(execFile);
const NS = 'lading-system';

interface Report {
  ok: boolean;
  nodes: Array<{ node: string; images: Array<{ name: string; outcome: string; proof?: { byPull?: string } }>; smoke?: { ok: boolean; detail: string }; changedFiles: string[]; error?: string }>;
  registry: {
    node: string;
    endpoint: string;
    image: string;
    auth: string;
    bootstrap?: { outcome: string; pinnedBy?: string };
    push?: { images: number; blobsUploaded: number; blobsPresent: number; bytesSent: number; manifestsPut: number };
    held?: { ok: boolean; missing: string[] };
  };
}

describe('registry mode: an in-cluster registry seeded through the API server, both nodes pulling from it', () => {
  let c: TestCluster;
  let work: string;
  let bundle: string;
  let app: PushedImage;
  let registryRef: string;
  /** The loopback registry's port: a later spec starts it again there, so the registry image keeps its name. */
  let loopbackPort: number;
  let ns: string | undefined;

  const install = async (...extra: string[]) => {
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...extra], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as Report;
  };
  /** --nodes for one node: its kubernetes.io/hostname label, as the kubelet set it. */
  const only = async (node: ClusterNode) => ['--nodes', `kubernetes.io/hostname=${(await c.core.readNode({ name: node.name })).metadata!.labels!['kubernetes.io/hostname']}`];
  const byRuntime = (runtime: string) => c.nodes.find((n) => n.runtime === runtime)!;
  /** The harness's registry image into the loopback registry (started again on its first port), under the name the bundles use. */
  const seedRegistryImage = async () => {
    const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo`');
    await run(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${join(c.env['LADING_CLUSTER_STATE']!, 'images/registry/registry.oci.tar')}`, `docker://${registryRef}`]);
  };
  const nodeKeyOf = (name: string) => c.nodes.find((n) => n.name === name)!;

  before(async () => {
    c = await connect();
    assert.deepEqual(c.nodes.map((n) => n.key), ['containerd'], 'these specs start with the containerd node alone; the CRI-O node joins later');
    requireTool('skopeo', 'install it with `apt-get install skopeo`');
    const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-registry-'));
    await writeFile(join(work, 'app.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await run(gcc, ['-static', '-Os', '-o', join(work, 'app'), join(work, 'app.c')]);
    const registry = await startRegistry();
    loopbackPort = registry.port;
    try {
      app = await pushImage(registry, { repository: 'e2e/registry-app', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }], config: { Entrypoint: ['/app'] } });
      // The registry image the harness built from distribution's Go module, served like any image to lading create.
      registryRef = `${registry.host}/lading/registry:${pinnedVersions().registryImage.split(':').pop()}`;
      await seedRegistryImage();
      await writeFile(join(work, 'spec.yaml'), specText([app.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
      const r = await runLading(['create', join(work, 'spec.yaml'), '-o', join(work, 'site.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(r.code, 0, r.stderr);
      bundle = join(work, 'site.tar');
      // A registry that cannot start: the kubelet already listens on 10250 on every node's address.
      await writeFile(join(work, 'badport.yaml'), specText([app.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 10250}\n`));
      const badport = await runLading(['create', join(work, 'badport.yaml'), '-o', join(work, 'badport.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(badport.code, 0, badport.stderr);
      // Deltas: app v2 against the site bundle (its base layers are what the registry will hold), and one
      // against a bundle that never reaches the cluster.
      const appV2 = await pushImage(registry, { repository: 'e2e/registry-app', tag: '2', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }, { files: { version: '2\n' } }], config: { Entrypoint: ['/app'] } });
      const stranger = await pushImage(registry, { repository: 'e2e/registry-stranger', tag: '1', layers: [{ randomBytes: 1 << 20, seed: 'registry-stranger' }] });
      const strangerV2 = await pushImage(registry, { repository: 'e2e/registry-stranger', tag: '2', layers: [{ randomBytes: 1 << 20, seed: 'registry-stranger' }, { files: { version: '2\n' } }] });
      for (const [name, refs, since] of [['delta', [appV2.ref], 'site.tar'], ['stranger', [stranger.ref], ''], ['stranger-delta', [strangerV2.ref], 'stranger.tar']] as const) {
        await writeFile(join(work, `${name}.yaml`), specText([...refs], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
        const made = await runLading(['create', join(work, `${name}.yaml`), '-o', join(work, `${name}.tar`), ...(since ? ['--since', join(work, since)] : [])], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
        assert.equal(made.code, 0, made.stderr);
      }
      await writeFile(join(work, 'plain.yaml'), specText([app.ref], ['linux/amd64']));
      const plain = await runLading(['create', join(work, 'plain.yaml'), '-o', join(work, 'plain.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(plain.code, 0, plain.stderr);
    } finally {
      // From here on no registry exists outside the cluster: every pull must be served by the one lading runs.
      await registry.stop();
    }
    ns = await createNamespace(c, 'registry');
  });

  after(async () => {
    if (c) await deleteNamespace(c, ns);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a bundle without a registry image is refused before anything changes, saying how to add one', async () => {
    const r = await runLading(['install', join(work, 'plain.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes'], { timeoutMs: 120_000 });
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /plain\.tar carries no registry image/);
    assert.match(r.stderr, /spec\.registry\.image/);
    const apps = await c.kc.makeApiClient((await import('@kubernetes/client-node')).AppsV1Api).listNamespacedDeployment({ namespace: NS }).catch(() => ({ items: [] }));
    assert.deepEqual(apps.items.map((d) => d.metadata?.name), [], 'no registry was started');
  });

  it('a registry that would not fit its node\'s filesystem is refused in preflight with the sizes; nothing is changed', async () => {
    // The registry's data and the images its node pulls share the node's filesystem here, as on most
    // machines: whichever check fails first (the pulls' or the registry's data) must refuse with sizes.
    const cd = byRuntime('containerd');
    // The node's own figures (the kubelet's summary, as lading reads them): ask that more stay free than is free now.
    const raw: unknown = await c.core.connectGetNodeProxyWithPath({ name: cd.name, path: 'stats/summary' });
    const summary = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { node: { fs: { availableBytes: number; capacityBytes: number } } };
    const keepFree = Math.min(99, Math.floor((100 * summary.node.fs.availableBytes) / summary.node.fs.capacityBytes) + 1);
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', '--keep-free', String(keepFree)], { timeoutMs: 120_000 });
    assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
    const name = cd.name.replace(/[.]/g, '\\.');
    assert.match(r.stderr, new RegExp(`(node ${name}: the registry would store [0-9.]+ [KMG]i?B, but its node's filesystem has [0-9.]+ GiB free of [0-9.]+ GiB|not enough free space on the image filesystem of ${name} \\([0-9.]+ GiB free of [0-9.]+ GiB, the import needs about [0-9.]+ [KMG]iB) and ${keepFree} %`));
    const apps = await c.apps.listNamespacedDeployment({ namespace: NS }).catch(() => ({ items: [] }));
    assert.deepEqual(apps.items.map((d) => d.metadata?.name), [], 'no registry was started');
    const agents = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-agent' }).catch(() => ({ items: [] }));
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent ran');
  });

  it('a registry pod that cannot start: the error shows its state and events, and what the run created is removed', async () => {
    const r = await runLading(['install', join(work, 'badport.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', ...(await only(byRuntime('containerd')))], { timeoutMs: 400_000 });
    assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /the registry pod did not become ready: CrashLoopBackOff/);
    assert.match(r.stdout, /Put the registry image on \S+ +injected, pinned \(lading\)/, 'its image was put on the node first');
    const apps = await c.kc.makeApiClient((await import('@kubernetes/client-node')).AppsV1Api).listNamespacedDeployment({ namespace: NS });
    assert.deepEqual(apps.items.map((d) => d.metadata?.name), [], 'the Deployment this run created is gone');
    const services = await c.core.listNamespacedService({ namespace: NS });
    assert.deepEqual(services.items.map((d) => d.metadata?.name), [], 'and its Service');
  });

  it('install --registry on the containerd node: the registry image injected and pinned there, every image pushed through the API server, pulled by original name', async () => {
    const cd = byRuntime('containerd');
    const report = await install(...(await only(cd)));
    assert.equal(report.ok, true);
    assert.equal(report.registry.image, registryRef);
    assert.equal(report.registry.node, cd.name);
    // Injected by the run before (whose registry could not start), and pinned since.
    assert.equal(report.registry.bootstrap?.outcome, 'present');
    assert.equal(report.registry.bootstrap?.pinnedBy, 'lading', 'the registry\'s own image is kept from the kubelet\'s GC');
    assert.deepEqual(report.registry.held, { ok: true, missing: [] });
    assert.equal(report.registry.push?.images, 2);
    assert.ok((report.registry.push?.blobsUploaded ?? 0) >= 4, JSON.stringify(report.registry.push));
    assert.match(report.registry.endpoint, new RegExp(`^http://${cd.ip.replace(/[.]/g, '\\.')}:5000$`));
    assert.deepEqual(report.nodes.map((n) => n.node), [cd.name]);
    const n = report.nodes[0]!;
    assert.equal(n.smoke?.ok, true, n.smoke?.detail);
    for (const image of n.images) assert.match(image.proof?.byPull ?? '', /Successfully pulled/, image.name);
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('always-containerd', cd.name, app.ref, { pull: 'Always' }) });
    await waitForPodRunning(c, ns!, 'always-containerd', 120_000);
  });

  it('a CRI-O node that joins after the install cannot pull; install --registry --nodes NEW pushes nothing, changes no other node, and then it pulls everything', async () => {
    const crio = await joinNode(c, 'crio');
    const images = await c.core.readNode({ name: crio.name });
    assert.deepEqual(images.status?.images?.flatMap((i) => i.names ?? []).filter((n) => !n.includes('pause')), [], 'the new node holds nothing but its sandbox image');
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('before-crio', crio.name, app.ref, { pull: 'Always' }) });
    await waitFor('the CRI-O node to fail the pull', async () => {
      const pod = await c.core.readNamespacedPod({ namespace: ns!, name: 'before-crio' });
      const reason = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return reason === 'ErrImagePull' || reason === 'ImagePullBackOff' ? reason : undefined;
    }, 90_000);
    const report = await install(...(await only(crio)));
    assert.equal(report.registry.node, byRuntime('containerd').name, 'the registry stays where its data is');
    assert.equal(report.registry.push?.blobsUploaded, 0, JSON.stringify(report.registry.push));
    assert.equal(report.registry.push?.manifestsPut, 0);
    assert.deepEqual(report.nodes.map((n) => n.node), [crio.name]);
    assert.equal(report.nodes[0]!.smoke?.ok, true, report.nodes[0]!.smoke?.detail);
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('always-crio', crio.name, app.ref, { pull: 'Always' }) });
    await waitForPodRunning(c, ns!, 'always-crio', 120_000);
  });

  it('a second install on both nodes pushes nothing and writes no file', async () => {
    const report = await install();
    assert.equal(report.registry.push?.blobsUploaded, 0, JSON.stringify(report.registry.push));
    assert.equal(report.registry.push?.manifestsPut, 0);
    assert.equal(report.registry.bootstrap?.outcome, 'present');
    for (const n of report.nodes) assert.deepEqual([n.node, n.changedFiles], [n.node, []]);
  });

  it('a delta whose base the registry lacks is refused before a byte is pushed; one whose base it holds pushes only its own layer', async () => {
    const refused = await runLading(['install', join(work, 'stranger-delta.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui'], { timeoutMs: 300_000 });
    assert.equal(refused.code, 10, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /the in-cluster registry lacks \d+ layers? this delta bundle leaves out \(e2e\/registry-stranger@sha256:[a-f0-9]{64}.*\); nothing was pushed/);
    const stranger = await fetch(`http://${byRuntime('containerd').ip}:5000/v2/e2e/registry-stranger/tags/list`);
    assert.equal(stranger.status, 404, 'the repository was never created');
    const r = await runLading(['install', join(work, 'delta.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--json'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.ok((report.registry.push?.bytesSent ?? Infinity) < 64 << 10, `only the small layer and config went out: ${JSON.stringify(report.registry.push)}`);
    assert.deepEqual(report.registry.held, { ok: true, missing: [] });
  });

  it('lading inventory records the registry\'s images and blobs beside the nodes\' (for create --against)', async () => {
    const file = join(work, 'inventory.json');
    const r = await runLading(['inventory', '--kubeconfig', c.kubeconfigPath, '-o', file, '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const inventory = JSON.parse(await readFile(file, 'utf8')) as { registry?: { images: Record<string, string>; blobs: string[] }; nodes: Array<{ name: string }> };
    assert.deepEqual(inventory.nodes.map((n) => n.name).sort(), c.nodes.map((n) => n.name).sort());
    const held = Object.entries(inventory.registry?.images ?? {}).find(([name]) => name.endsWith('e2e/registry-app:1'));
    assert.equal(held?.[1], app.digest, JSON.stringify(inventory.registry?.images));
    for (const layer of app.layerDigests) assert.ok(inventory.registry!.blobs.includes(layer), `the registry holds ${layer}`);
  });

  it('check --registry: ready, its image pinned, everything held (exit 0); an image the registry lost is named (exit 10) and --repair pushes it back', async () => {
    const check = async (...extra: string[]) => runLading(['check', bundle, '--registry', '--kubeconfig', c.kubeconfigPath, ...extra], { timeoutMs: 300_000 });
    const ok = await check('--json');
    assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
    const report = JSON.parse(ok.stdout) as { ok: boolean; registry: Report['registry'] & { health: { ready: boolean } } };
    assert.equal(report.registry.health.ready, true);
    assert.deepEqual(report.registry.bootstrap, { outcome: 'present', pinnedBy: 'lading' });
    assert.deepEqual(report.registry.held, { ok: true, missing: [] });
    // The registry loses the app's repository (its data directory on its node, as a bad disk or a hand would).
    const registryNode = c.nodes.find((n) => n.name === report.registry.node)!;
    const removed = await ssh(c, registryNode.key, ['rm', '-rf', '/var/lib/lading/registry/docker/registry/v2/repositories/e2e']);
    assert.equal(removed.code, 0, removed.stderr);
    const lost = await check('--no-tui');
    assert.equal(lost.code, 10, `${lost.stdout}\n${lost.stderr}`);
    assert.match(lost.stdout, new RegExp(`holds every image by digest and tag: NO, missing ${app.ref.replace(/[.]/g, '\\.')}`));
    const repaired = await check('--repair', '--yes', '--json');
    assert.equal(repaired.code, 0, `${repaired.stdout}\n${repaired.stderr}`);
    const after = JSON.parse(repaired.stdout) as { ok: boolean; registry: Report['registry'] };
    assert.deepEqual(after.registry.held, { ok: true, missing: [] });
    assert.ok((after.registry.push?.manifestsPut ?? 0) >= 1, JSON.stringify(after.registry.push));
  });

  it('the registry and its data survive a hard reset of its node; the other node pulls again once it is back', async () => {
    const list = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-registry' });
    const registryNode: ClusterNode = nodeKeyOf(list.items[0]!.spec!.nodeName!);
    const other = c.nodes.find((n) => n.key !== registryNode.key)!;
    await resetNode(c, registryNode.key);
    await waitFor('the registry pod Ready again after its node\'s reset', async () => {
      const pods = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-registry' });
      return pods.items.some((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')) ? true : undefined;
    }, 240_000);
    const name = `after-reset-${other.key}`;
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(name, other.name, app.ref, { pull: 'Always' }) });
    const pod = await waitForPodRunning(c, ns!, name, 120_000);
    assert.equal(pod.spec?.nodeName, other.name);
  });

  it('the API connection dropping mid-blob: the upload resumes from the offset the registry reports, the image arrives whole', async () => {
    const registry = await startRegistry({ port: loopbackPort });
    let big: PushedImage;
    try {
      big = await pushImage(registry, { repository: 'e2e/registry-big', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }, { randomBytes: 80 << 20, seed: 'e2e-registry-big' }], config: { Entrypoint: ['/app'] } });
      // The same registry image as the first bundle (already in the registry), and the big one.
      await writeFile(join(work, 'big.yaml'), specText([big.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
      await seedRegistryImage();
      const created = await runLading(['create', join(work, 'big.yaml'), '-o', join(work, 'big.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
    } finally {
      await registry.stop();
    }
    const server = new URL(c.kc.getCurrentCluster()!.server);
    // Cut the connection that carries the push once it passed 48 MiB: in the middle of the second 32 MiB chunk.
    const proxy = await startTcpCutProxy({ host: server.hostname, port: Number(server.port) }, 48 << 20);
    try {
      const kubeconfig = join(work, 'via-proxy.kubeconfig');
      await writeFile(kubeconfig, (await readFile(c.kubeconfigPath, 'utf8')).replace(server.origin, `https://127.0.0.1:${proxy.port}`));
      const registryNode = c.nodes.find((n) => n.runtime === 'containerd')!;
      const r = await runLading(['install', join(work, 'big.tar'), '--registry', '--kubeconfig', kubeconfig, '--yes', '--json', ...(await only(registryNode))], { timeoutMs: 600_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(proxy.cuts(), 1, 'the connection was cut once');
      const report = JSON.parse(r.stdout) as Report & { registry: { push: { resumed: number; restarted: number } } };
      assert.deepEqual(report.registry.held, { ok: true, missing: [] });
      assert.equal(report.registry.push.resumed + report.registry.push.restarted, 1, JSON.stringify(report.registry.push));
      assert.equal(report.registry.push.resumed, 1, `resumed, not restarted: ${JSON.stringify(report.registry.push)}`);
      assert.ok(report.registry.push.bytesSent < (80 << 20) + (48 << 20), `less than the whole layer again: ${JSON.stringify(report.registry.push)}`);
      assert.equal(report.nodes[0]!.smoke?.ok, true, report.nodes[0]!.smoke?.detail);
    } finally {
      await proxy.stop();
    }
  });

  it('Ctrl-C during the push: exit 130, agents removed, no manifest under the image\'s tag; the next run completes', async () => {
    const registry = await startRegistry({ port: loopbackPort });
    let image: PushedImage;
    try {
      await seedRegistryImage();
      image = await pushImage(registry, { repository: 'e2e/registry-ctrlc', tag: '1', layers: [{ randomBytes: 256 << 20, seed: 'e2e-registry-ctrlc' }] });
      await writeFile(join(work, 'ctrlc.yaml'), specText([image.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
      const created = await runLading(['create', join(work, 'ctrlc.yaml'), '-o', join(work, 'ctrlc.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
    } finally {
      await registry.stop();
    }
    const cd = byRuntime('containerd');
    const nodes = await only(cd);
    let interrupted = false;
    const r = await runLading(['install', join(work, 'ctrlc.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', ...nodes], {
      timeoutMs: 300_000,
      // Its step trace, for the failure message: this spec once saw lading stall after Ctrl-C.
      env: { LADING_DEBUG: '1' },
      onSpawn: (child) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          if (!interrupted && /Push 2 images through the API server/.test(chunk.toString())) {
            interrupted = true;
            setTimeout(() => child.kill('SIGINT'), 300);
          }
        }),
    });
    assert.ok(interrupted, r.stdout);
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /cleanup still under way/, `cleanup ended by itself, not by the deadline:\n${r.stderr}`);
    const agents = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-agent' });
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent pod is left');
    // Asked of the registry itself, at its node's address.
    const tag = await fetch(`http://${cd.ip}:5000/v2/e2e/registry-ctrlc/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(tag.status, 404, 'no manifest under the interrupted image\'s tag');
    const again = await runLading(['install', join(work, 'ctrlc.tar'), '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...nodes], { timeoutMs: 600_000 });
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    assert.deepEqual((JSON.parse(again.stdout) as Report).registry.held, { ok: true, missing: [] });
  });
  it('--registry-auth: the registry demands credentials lading made and never prints; both nodes pull with them from files of mode 600; a push without the token is refused', async () => {
    const cd = byRuntime('containerd');
    const crio = byRuntime('crio');
    const r = await runLading(['install', bundle, '--registry', '--registry-auth', '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /with htpasswd credentials \(Secret lading-system\/lading-registry-auth; pushes through its gate on port 5001\)/);
    const secret = await c.core.readNamespacedSecret({ namespace: NS, name: 'lading-registry-auth' });
    const value = (k: string) => Buffer.from(secret.data![k]!, 'base64').toString('utf8');
    const [password, token] = [value('password'), value('push-token')];
    for (const s of [password, token, Buffer.from(`lading:${password}`).toString('base64')]) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'no credential is printed');
    // The registry itself, at its node's address.
    assert.equal((await fetch(`http://${cd.ip}:5000/v2/`)).status, 401, 'without credentials: refused');
    assert.equal((await fetch(`http://${cd.ip}:5000/v2/`, { headers: { authorization: `Basic ${Buffer.from(`lading:${password}`).toString('base64')}` } })).status, 200);
    // Through the API server without the push token: the gate refuses.
    const { ApiProxyTransport } = await import('../../src/core/registry/api-proxy.js');
    const bare = new ApiProxyTransport(c.kc, c.kc.getCurrentCluster()!.server, { namespace: NS, service: 'lading-registry', port: 'push' });
    try {
      const refused = await bare.send({ method: 'POST', path: '/v2/e2e/intruder/blobs/uploads/' });
      refused.body?.resume();
      assert.equal(refused.status, 401);
    } finally {
      await bare.close();
    }
    // The credentials on the nodes: containerd's hosts.toml and CRI-O's auth file, mode 600.
    const cdFiles = await ssh(c, 'containerd', ['sh', '-c', 'grep -rli authorization /etc/containerd/certs.d | xargs stat -c "%a %n"']);
    assert.match(cdFiles.stdout, /^600 \/etc\/containerd\/certs\.d\/.+\/hosts\.toml$/m, cdFiles.stdout + cdFiles.stderr);
    const crioFiles = await ssh(c, 'crio', ['stat', '-c', '%a %n', '/etc/crio/lading-auth.json', '/etc/crio/crio.conf.d/99-lading-auth.conf']);
    assert.deepEqual(crioFiles.stdout.trim().split('\n'), ['600 /etc/crio/lading-auth.json', '644 /etc/crio/crio.conf.d/99-lading-auth.conf'], crioFiles.stderr);
    const authJson = JSON.parse((await ssh(c, 'crio', ['cat', '/etc/crio/lading-auth.json'])).stdout) as { auths: Record<string, { auth: string }> };
    assert.equal(authJson.auths[`${cd.ip}:5000`]?.auth, Buffer.from(`lading:${password}`).toString('base64'));
    // Pods by original name with Always pull on both nodes, now with the credentials.
    for (const node of [cd, crio]) {
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(`auth-${node.key}`, node.name, app.ref, { pull: 'Always' }) });
      await waitForPodRunning(c, ns!, `auth-${node.key}`, 120_000);
    }
    // A later run without the flag keeps the credentials (it must not strip them) and pushes nothing.
    const again = await install();
    assert.equal(again.registry.auth, 'htpasswd');
    assert.equal(again.registry.push?.blobsUploaded, 0, JSON.stringify(again.registry.push));
    const check = await runLading(['check', bundle, '--registry', '--kubeconfig', c.kubeconfigPath, '--json'], { timeoutMs: 300_000 });
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
    assert.deepEqual((JSON.parse(check.stdout) as Report).registry.held, { ok: true, missing: [] });
  });
});
