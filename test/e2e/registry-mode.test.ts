/**
 * Registry mode (issue 9) on both nodes: `install --registry` puts the registry image (the distribution
 * registry the harness builds from its Go module) on one node by node injection, runs it there, pushes
 * every image through the API server and points the selected nodes at it; pods by the images' original
 * names with `imagePullPolicy: Always` then start while no registry outside the cluster exists. The CRI-O
 * node comes second, as a node that joins later: its install pushes nothing and it pulls everything. The
 * registry and its data survive a hard reset of its node.
 *
 * e2e-nodes: containerd,crio
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connect, createNamespace, deleteNamespace, pinnedVersions, podSpec, resetNode, waitFor, waitForPodRunning, type ClusterNode, type TestCluster } from './helpers/cluster.js';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
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
  let ns: string | undefined;

  const install = async (...extra: string[]) => {
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...extra], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as Report;
  };
  /** --nodes for one node: its kubernetes.io/hostname label, as the kubelet set it. */
  const only = async (node: ClusterNode) => ['--nodes', `kubernetes.io/hostname=${(await c.core.readNode({ name: node.name })).metadata!.labels!['kubernetes.io/hostname']}`];
  const byRuntime = (runtime: string) => c.nodes.find((n) => n.runtime === runtime)!;
  const nodeKeyOf = (name: string) => c.nodes.find((n) => n.name === name)!;

  before(async () => {
    c = await connect();
    assert.ok(c.nodes.some((n) => n.runtime === 'containerd') && c.nodes.some((n) => n.runtime === 'crio'), `these specs need both nodes; the cluster has ${c.nodes.map((n) => n.key).join(', ')}`);
    const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo`');
    const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-registry-'));
    await writeFile(join(work, 'app.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await run(gcc, ['-static', '-Os', '-o', join(work, 'app'), join(work, 'app.c')]);
    const registry = await startRegistry();
    try {
      app = await pushImage(registry, { repository: 'e2e/registry-app', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }], config: { Entrypoint: ['/app'] } });
      // The registry image the harness built from distribution's Go module, served like any image to lading create.
      registryRef = `${registry.host}/lading/registry:${pinnedVersions().registryImage.split(':').pop()}`;
      const archive = join(c.env['LADING_CLUSTER_STATE']!, 'images/registry/registry.oci.tar');
      await run(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${registryRef}`]);
      await writeFile(join(work, 'spec.yaml'), specText([app.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
      const r = await runLading(['create', join(work, 'spec.yaml'), '-o', join(work, 'site.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(r.code, 0, r.stderr);
      bundle = join(work, 'site.tar');
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

  it('install --registry on the containerd node: the registry image injected and pinned there, every image pushed through the API server, pulled by original name', async () => {
    const cd = byRuntime('containerd');
    const report = await install(...(await only(cd)));
    assert.equal(report.ok, true);
    assert.equal(report.registry.image, registryRef);
    assert.equal(report.registry.node, cd.name);
    assert.equal(report.registry.bootstrap?.outcome, 'injected');
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

  it('the CRI-O node, not pointed at the registry yet, cannot pull; its own install --registry pushes nothing, and then it pulls everything', async () => {
    const crio = byRuntime('crio');
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
});
