/**
 * lading install on the real offline cluster: create a bundle from a local
 * registry, stop the registry, install with --yes, then pods using the
 * injected images (by tag and by the source digest) start while no registry
 * exists anywhere; a second install is a no-op.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { connect, createNamespace, deleteNamespace, podSpec, waitForPodRunning, type TestCluster } from './helpers/cluster.js';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';
import { startTcpCutProxy } from '../support/tcp-cut-proxy.js';
import { runInTty } from '../support/tty.js';
import { goodBundle, writeBundle } from '../support/hostile-bundle.js';

const run = promisify(execFile);

describe('lading install on the offline test cluster', () => {
  let c: TestCluster;
  let work: string;
  let bundle: string;
  let app: PushedImage;
  let ns: string | undefined;

  before(async () => {
    c = await connect();
    const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-install-'));
    // A tiny static program that waits for a signal: a runnable image with no base and no registry behind it.
    await writeFile(join(work, 'app.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await run(gcc, ['-static', '-Os', '-o', join(work, 'app'), join(work, 'app.c')]);
    const binary = await readFile(join(work, 'app'));
    const registry = await startRegistry();
    try {
      app = await pushImage(registry, {
        repository: 'e2e/app',
        tag: '1.0',
        platforms: ['linux/amd64', 'linux/arm64'],
        layers: [{ files: { app: { content: binary, mode: 0o755 } } }, { randomBytes: 8 << 20, seed: 'e2e-install' }],
        config: { Entrypoint: ['/app'] },
      });
      const spec = join(work, 'lading.yaml');
      await writeFile(spec, specText([app.ref], ['linux/amd64', 'linux/arm64']));
      bundle = join(work, 'e2e.lading.tar');
      const created = await runLading(['create', spec, '-o', bundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
    } finally {
      // From here on there is no registry anywhere.
      await registry.stop();
    }
    ns = await createNamespace(c, 'install');
  });

  after(async () => {
    if (c) await deleteNamespace(c, ns);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses to run unattended without --yes, and changes nothing', async () => {
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Pass --yes for unattended runs/);
  });

  it('--dry-run: the bundle verified, preflight, the plan (text and JSON), and nothing created', async () => {
    const namespaceSeen = async () => (await c.core.listNamespace()).items.some((n) => n.metadata?.name === 'lading-system');
    const existedBefore = await namespaceSeen();
    const text = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--dry-run', '--no-tui', ...clusterFlags(c)]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Plan:\n {2}127\.0\.0\.1 {2}linux\/amd64 {2}containerd:\/\/2\.\d+\.\d+: inject 1 image/);
    assert.match(text.stdout, /Dry run: nothing was created or changed\./);
    const json = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--dry-run', '--json', ...clusterFlags(c)]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { ok: boolean; dryRun: boolean; nodes: Array<{ node: string; platform: string; images: string[]; bytesToAdd: number }> };
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.nodes.map((n) => [n.node, n.platform, n.images]), [['127.0.0.1', 'linux/amd64', [app.ref]]]);
    assert.ok(report.nodes[0]!.bytesToAdd > 8 << 20, `bytesToAdd ${report.nodes[0]!.bytesToAdd}`);
    assert.equal(await namespaceSeen(), existedBefore, 'no namespace was created');
    if (existedBefore) {
      const agents = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-agent' });
      assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent pod was started');
    }
  });

  it('interactively: the plan, then a question; "n" changes nothing', async () => {
    const run = await runInTty(['install', bundle, '--kubeconfig', c.kubeconfigPath, ...clusterFlags(c)], {}, { when: /Install on 1 node\(s\)\? \[y\/N\]/, keys: 'n\r' });
    assert.equal(run.code, 0, run.screen);
    assert.match(run.screen, /✔ Verify bundle/);
    // (The node now has a bridge address, so the API server proxies its kubelet summary and the plan may show free space.)
    assert.match(run.screen, /Plan:\r?\n {2}127\.0\.0\.1 {2}linux\/amd64 {2}containerd:\/\/2\.\d+\.\d+: inject \d image/);
    assert.match(run.screen, /Nothing was changed\./);
    const ns = await c.core.listNamespace();
    assert.ok(!ns.items.some((n) => n.metadata?.name === 'lading-system' && !n.metadata.labels?.['app.kubernetes.io/managed-by']), 'no half-made namespace');
  });

  it('too little room on the image filesystem (the kubelet\'s image GC margin counted): refused before any import', async () => {
    // --keep-free 99: no real disk has 99 % free plus room for the import, so the agent's df check must refuse.
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', '--keep-free', '99', ...clusterFlags(c)], { timeoutMs: 180_000 });
    assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout + r.stderr,
      /not enough free space on the image filesystem of 127\.0\.0\.1 \([\d.]+ [KMGT]iB free of [\d.]+ [KMGT]iB, the import needs about [\d.]+ MiB and 99 % \([\d.]+ [KMGT]iB\) must stay free\)/,
    );
    assert.match(r.stdout + r.stderr, /Next: .*lower --keep-free/, 'the report (or, refused in preflight from the kubelet summary, the error) says what to do');
    const agents = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-agent' });
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent pod is left');
    const listed = await run(c.env['LADING_CTR']!, ['-a', c.env['LADING_CONTAINERD_ADDRESS']!, '-n', 'k8s.io', 'images', 'ls', '-q']);
    assert.ok(!listed.stdout.split('\n').includes(app.ref), 'nothing was imported');
  });

  it('injects, verifies and cleans up; pods start from the image by tag and by source digest', async () => {
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...clusterFlags(c)], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, true);
    const node = report.nodes[0];
    assert.deepEqual(node.images.map((i: { name: string; outcome: string }) => [i.name, i.outcome]), [[app.ref, 'injected']]);
    assert.ok(node.injectedBytes > 8 << 20);
    assert.deepEqual(node.transport, { transport: 'pods/proxy' }, 'streamed to the agent\'s receiver through pods/proxy');
    // containerd 2's ctr has --local: the import runs in ctr itself, not through the transfer service (twice as fast).
    assert.match(node.runtime, /; ctr images import --local\)$/, node.runtime);
    assert.equal(node.smoke.ok, true, node.smoke.detail);

    const agents = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-agent' });
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent pod is left');

    for (const [name, image, policy] of [
      ['by-tag', app.ref, 'Never'],
      ['by-digest', app.digestRef, 'IfNotPresent'],
    ] as const) {
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(name, c.nodeName, image, { pull: policy }) });
      await waitForPodRunning(c, ns!, name);
    }
  });

  it('a second install finds everything present and injects nothing', async () => {
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...clusterFlags(c)], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.nodes[0].images.map((i: { outcome: string }) => i.outcome), ['present']);
    assert.equal(report.nodes[0].injectedBytes, 0);
    // The proof pods started beside the agent (the record says complete) and their verdicts stood.
    assert.equal(report.nodes[0].smoke.ok, true, report.nodes[0].smoke.detail);
    assert.deepEqual(report.nodes[0].images[0].proof, { byName: 'kubelet event "already present on machine"', byDigest: 'kubelet event "already present on machine"' });
    const pods = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-smoke' });
    assert.deepEqual(pods.items.map((p) => p.metadata?.name), [], 'no proof pod left behind');
  });

  it('an image removed behind lading\'s back: the record says complete, the listing does not; it is streamed again and proven', async () => {
    const ctr = [c.env['LADING_CTR']!, '-a', c.env['LADING_CONTAINERD_ADDRESS']!, '-n', 'k8s.io'] as const;
    await run(ctr[0], [...ctr.slice(1), 'images', 'rm', '--sync', app.ref]);
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--json', ...clusterFlags(c)], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.nodes[0].images.map((i: { outcome: string }) => i.outcome), ['injected']);
    // The proof pods started early were stopped: these verdicts come from pods started after the import.
    assert.equal(report.nodes[0].smoke.ok, true, report.nodes[0].smoke.detail);
    const pods = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-smoke' });
    assert.deepEqual(pods.items.map((p) => p.metadata?.name), [], 'no proof pod left behind');
    const listed = (await run(ctr[0], [...ctr.slice(1), 'images', 'ls', '-q'])).stdout.split('\n');
    assert.ok(listed.includes(app.ref), 'the image is back under its name');
  });

  it('lading check: every image present; one the node lost is named (exit 10); --repair streams it back', async () => {
    const flags = ['--kubeconfig', c.kubeconfigPath, ...clusterFlags(c)];
    const clean = await runLading(['check', bundle, '--json', ...flags], { timeoutMs: 180_000 });
    assert.equal(clean.code, 0, `${clean.stdout}\n${clean.stderr}`);
    assert.deepEqual(JSON.parse(clean.stdout).nodes[0].images.map((i: { outcome: string }) => i.outcome), ['present']);

    // What a reset that wiped the store does: the names are gone from the runtime.
    const ctr = [c.env['LADING_CTR']!, '-a', c.env['LADING_CONTAINERD_ADDRESS']!, '-n', 'k8s.io'] as const;
    const names = (await run(ctr[0], [...ctr.slice(1), 'images', 'ls', '-q'])).stdout.split('\n').filter((n) => n.startsWith(app.ref.replace(/:[^:]+$/, '')));
    assert.ok(names.length >= 2, `tag and digest names on the node: ${names.join(', ')}`);
    await run(ctr[0], [...ctr.slice(1), 'images', 'rm', '--sync', ...names]);

    const lost = await runLading(['check', bundle, '--no-tui', ...flags], { timeoutMs: 180_000 });
    assert.equal(lost.code, 10, `${lost.stdout}\n${lost.stderr}`);
    assert.match(lost.stdout, new RegExp(`${app.ref.replace(/[.]/g, '\\.')} +✖ missing`));
    assert.match(lost.stdout + lost.stderr, /0 of 1 present, 1 LOST/);
    assert.match(lost.stdout + lost.stderr, /Check 1 node \(1 failed\)/);
    assert.match(lost.stdout, /lading check --repair/);

    const refused = await runLading(['check', bundle, '--repair', ...flags]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /check --repair changes nodes and needs confirmation/);

    // Through exec this time: the other way in, still whole.
    const repaired = await runLading(['check', bundle, '--repair', '--yes', '--json', '--transport', 'exec', ...flags], { timeoutMs: 300_000 });
    assert.equal(repaired.code, 0, `${repaired.stdout}\n${repaired.stderr}`);
    const report = JSON.parse(repaired.stdout);
    assert.deepEqual(report.lost, [c.nodeName]);
    assert.deepEqual(report.nodes[0].images.map((i: { outcome: string }) => i.outcome), ['injected']);
    assert.deepEqual(report.nodes[0].transport, { transport: 'exec', reason: '--transport exec' });
    assert.equal(report.nodes[0].smoke.ok, true, report.nodes[0].smoke.detail);
    const pods = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-smoke' });
    assert.deepEqual(pods.items.map((p) => p.metadata?.name), [], 'no proof pod left behind');
    const after = (await run(ctr[0], [...ctr.slice(1), 'images', 'ls', '-q'])).stdout.split('\n');
    for (const name of names) assert.ok(after.includes(name), `${name} is back`);
  });

  it('lading check --repair in a terminal: the live view, the plan, "y", and the lost image is back', async () => {
    const ctr = [c.env['LADING_CTR']!, '-a', c.env['LADING_CONTAINERD_ADDRESS']!, '-n', 'k8s.io'] as const;
    await run(ctr[0], [...ctr.slice(1), 'images', 'rm', '--sync', app.ref]);
    const tty = await runInTty(['check', bundle, '--repair', '--kubeconfig', c.kubeconfigPath, ...clusterFlags(c)], {}, { when: /Re-inject on 1 node\(s\)\? \[y\/N\]/, keys: 'y' });
    assert.equal(tty.code, 0, tty.screen);
    assert.match(tty.screen, /✖ FAILED \(images lost\)/);
    assert.match(tty.screen, /Plan:\r?\n {2}127\.0\.0\.1 {2}linux\/amd64 {2}containerd:\/\/2\.\d+\.\d+: inject 1 image/);
    assert.match(tty.screen, /\[y\/N\] yes/);
    assert.match(tty.screen, /✔ OK \(repaired\)/);
    const listed = (await run(ctr[0], [...ctr.slice(1), 'images', 'ls', '-q'])).stdout.split('\n');
    assert.ok(listed.includes(app.ref), 'the image is back under its name');
  });

  it('--restore on a containerd node finds no file lading changed, and takes off the pins it set', async () => {
    const r = await runLading(['install', '--restore', '--kubeconfig', c.kubeconfigPath, '--yes', '--json'], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.nodes.map((n: { node: string; restored: string[] }) => [n.node, n.restored]), [[c.nodeName, []]]);
    assert.deepEqual([...report.nodes[0].unpinned].sort(), [app.ref, app.digestRef].sort(), 'the tag and digest names lading pinned');
    const again = await runLading(['install', '--restore', '--kubeconfig', c.kubeconfigPath, '--yes', '--json'], { timeoutMs: 180_000 });
    assert.deepEqual(JSON.parse(again.stdout).nodes[0].unpinned, [], 'nothing of lading\'s is left pinned');
  });

  it('a corrupted bundle is refused before the cluster is touched', async () => {
    const broken = join(work, 'broken.tar');
    const bytes = await readFile(bundle);
    const big = app.built.platforms[0]!.layers.find((l) => l.size > 1 << 20)!;
    const layerAt = bytes.indexOf(Buffer.from(`blobs/sha256/${big.digest.slice(7)}`));
    bytes[layerAt + 512 + 1000]! ^= 0xff;
    await writeFile(broken, bytes);
    const r = await runLading(['install', broken, '--kubeconfig', c.kubeconfigPath, '--yes']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /failed verification: blob sha256:[a-f0-9]{64}: content does not match its digest/);
    assert.doesNotMatch(r.stdout, /Preflight/);
  });

  it('a bundle that claims the node\'s sandbox image with other content is refused in preflight (exit 7), nothing started', async () => {
    // The node's sandbox image, as its status lists it (the agent's image too).
    const node = await c.core.readNode({ name: c.nodeName });
    const sandbox = (node.status?.images ?? []).flatMap((i) => i.names ?? []).find((n) => /\/pause:/.test(n) && !n.includes('@'))!;
    assert.ok(sandbox, 'the node lists its sandbox image');
    // A well-formed bundle whose every claim is consistent, naming its image as the sandbox: nothing in it proves otherwise.
    const parts = goodBundle();
    const tool = parts.metadata.images[1];
    tool.name = tool.source = sandbox;
    parts.metadata.images = [tool];
    parts.metadata.platforms = ['linux/amd64'];
    delete parts.metadata.mirrors;
    parts.index.manifests = [{ ...parts.index.manifests[1], annotations: { 'org.opencontainers.image.ref.name': sandbox, 'io.containerd.image.name': sandbox } }];
    const hostile = join(work, 'sandbox.tar');
    await writeBundle(hostile, parts);
    const r = await runLading(['install', hostile, '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', ...clusterFlags(c)], { timeoutMs: 180_000 });
    assert.equal(r.code, 7, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`would replace the sandbox image ${sandbox.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} of node ${c.nodeName}`));
    const pods = await c.core.listNamespacedPod({ namespace: 'lading-system' }).catch(() => ({ items: [] }));
    assert.deepEqual(pods.items.map((p) => p.metadata?.name), [], 'no agent was started');
  });

  it('an identity without the rights is refused in preflight, naming each verb and resource', async () => {
    // A ServiceAccount that may list nodes and nothing else: a token kubeconfig for it.
    const rbac = c.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await c.core.createNamespacedServiceAccount({ namespace: ns!, body: { metadata: { name: 'viewer' } } });
    await rbac.createClusterRole({ body: { metadata: { name: `${ns}-viewer` }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list', 'get'] }] } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `${ns}-viewer` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${ns}-viewer` },
        subjects: [{ kind: 'ServiceAccount', name: 'viewer', namespace: ns! }],
      },
    });
    try {
      const token = await c.core.createNamespacedServiceAccountToken({ name: 'viewer', namespace: ns!, body: { spec: { audiences: [], expirationSeconds: 600 } } });
      const cluster = c.kc.getCurrentCluster()!;
      const kubeconfig = join(work, 'viewer.kubeconfig');
      await writeFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'lading', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData ?? (await readFile(cluster.caFile!)).toString('base64') } }],
          users: [{ name: 'viewer', user: { token: token.status!.token } }],
          contexts: [{ name: 'viewer', context: { cluster: 'lading', user: 'viewer' } }],
          'current-context': 'viewer',
        }),
      );
      const r = await runLading(['install', bundle, '--kubeconfig', kubeconfig, '--yes']);
      assert.equal(r.code, 9, r.stderr);
      assert.match(r.stderr, /does not allow this identity to: create configmaps in namespace lading-system; create namespaces; create pods in namespace lading-system; create pods\/exec in namespace lading-system;.* update configmaps in namespace lading-system/);
    } finally {
      await rbac.deleteClusterRoleBinding({ name: `${ns}-viewer` }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: `${ns}-viewer` }).catch(() => undefined);
    }
  });

  it('an existing namespace lading did not create and whose PodSecurity refuses privileged pods: refused (exit 9), its labels untouched', async () => {
    const name = `${ns}-restricted`;
    const labels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'lading.test/e2e': 'true' };
    await c.core.createNamespace({ body: { metadata: { name, labels } } });
    try {
      const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--namespace', name, ...clusterFlags(c)], { timeoutMs: 180_000 });
      assert.equal(r.code, 9, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`namespace ${name} was not created by lading, and its label pod-security\\.kubernetes\\.io/enforce=restricted refuses`));
      const after = await c.core.readNamespace({ name });
      const { 'kubernetes.io/metadata.name': _auto, ...kept } = after.metadata?.labels ?? {};
      assert.deepEqual(kept, labels, 'not relabelled');
      const pods = await c.core.listNamespacedPod({ namespace: name });
      assert.deepEqual(pods.items.map((p) => p.metadata?.name), [], 'no agent started');
    } finally {
      await deleteNamespace(c, name);
    }
  });

  it('an agent image the node lacks: a clear error with the pod\'s events, and no agent left behind', async () => {
    const r = await runLading(['install', bundle, '--kubeconfig', c.kubeconfigPath, '--yes', '--agent-image', 'registry.invalid/nothing:1', ...clusterFlags(c)], { timeoutMs: 180_000 });
    assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /agent pod lading-agent-\w+ did not start \(ErrImageNeverPull/);
    const agents = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-agent' });
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), []);
  });

  it('mirrors: hosts.toml makes the node pull a name it has never seen through the site mirror; --restore removes it', async () => {
    const registry = await startRegistry();
    try {
      const mirrored = await pushImage(registry, {
        repository: 'lading-e2e/mirrored',
        tag: '1.0',
        layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }],
        config: { Entrypoint: ['/app'] },
      });
      const spec = join(work, 'mirrors.yaml');
      // The bundle's own image comes from the same registry at create time; nothing is pulled at install time.
      const republished = await pushImage(registry, { repository: 'e2e/app', tag: '1.0', platforms: ['linux/amd64', 'linux/arm64'], layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }, { randomBytes: 8 << 20, seed: 'e2e-install' }], config: { Entrypoint: ['/app'] } });
      await writeFile(spec, `${specText([republished.ref], ['linux/amd64'])}  mirrors:\n    - registry: mirror.lading.test\n      endpoints: [${registry.url}]\n`);
      const withMirrors = join(work, 'mirrors.tar');
      const created = await runLading(['create', spec, '-o', withMirrors], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);

      const config = c.env['LADING_CONTAINERD_CONFIG'] ?? join(dirname(c.kubeconfigPath), 'containerd', 'config.toml');
      const r = await runLading(['install', withMirrors, '--kubeconfig', c.kubeconfigPath, '--yes', '--json', '--containerd-config', config, ...clusterFlags(c)], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const hostsToml = JSON.parse(r.stdout).nodes[0].changedFiles as string[];
      assert.equal(hostsToml.length, 1);
      assert.match(hostsToml[0]!, /certs\.d\/mirror\.lading\.test\/hosts\.toml$/);

      const name = 'via-mirror';
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(name, c.nodeName, `mirror.lading.test/lading-e2e/mirrored:1.0`, { pull: 'IfNotPresent' }) });
      const pod = await waitForPodRunning(c, ns!, name);
      assert.match(pod.status!.containerStatuses![0]!.imageID, new RegExp(mirrored.digest));

      const restore = await runLading(['install', '--restore', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', '--containerd-config', config], { timeoutMs: 180_000 });
      assert.equal(restore.code, 0, `${restore.stdout}\n${restore.stderr}`);
      assert.deepEqual(JSON.parse(restore.stdout).nodes[0].restored, hostsToml);
      await assert.rejects(readFile(hostsToml[0]!), /ENOENT/, 'the file lading created is gone again');
    } finally {
      await registry.stop();
    }
  });

  it('an API connection that drops mid-stream is retried, and the image still arrives whole', async () => {
    const registry = await startRegistry();
    let big: PushedImage;
    const bigBundle = join(work, 'drop.tar');
    try {
      big = await pushImage(registry, { repository: 'e2e/drop', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }, { randomBytes: 48 << 20, seed: 'e2e-drop' }], config: { Entrypoint: ['/app'] } });
      const spec = join(work, 'drop.yaml');
      await writeFile(spec, specText([big.ref], ['linux/amd64']));
      const created = await runLading(['create', spec, '-o', bigBundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
    } finally {
      await registry.stop();
    }
    const server = new URL(c.kc.getCurrentCluster()!.server);
    const proxy = await startTcpCutProxy({ host: server.hostname, port: Number(server.port) }, 16 << 20);
    try {
      const kubeconfig = join(work, 'via-proxy.kubeconfig');
      const text = await readFile(c.kubeconfigPath, 'utf8');
      await writeFile(kubeconfig, text.replace(server.origin, `https://127.0.0.1:${proxy.port}`));
      const r = await runLading(['install', bigBundle, '--kubeconfig', kubeconfig, '--yes', '--no-tui', ...clusterFlags(c)], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(proxy.cuts(), 1, 'the connection was cut once');
      assert.match(r.stdout, /connection dropped; streaming again \(attempt 2 of 3\)/);
      assert.match(r.stdout, new RegExp(`${big!.ref.replace(/[.]/g, '\\.')} +✔ injected`));
    } finally {
      await proxy.stop();
    }
  });

  it('a node whose platform the bundle lacks is refused in preflight', async () => {
    const registry = await startRegistry();
    try {
      const armOnly = await pushImage(registry, { repository: 'e2e/arm-only', tag: '1', platforms: ['linux/arm64'], layers: [{ files: { a: 'b' } }] });
      const spec = join(work, 'arm.yaml');
      await writeFile(spec, specText([armOnly.ref], ['linux/arm64']));
      const armBundle = join(work, 'arm.tar');
      const created = await runLading(['create', spec, '-o', armBundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
      const r = await runLading(['install', armBundle, '--kubeconfig', c.kubeconfigPath, '--yes']);
      assert.equal(r.code, 10, r.stderr);
      assert.match(r.stderr, new RegExp(`no image in the bundle runs on node ${c.nodeName.replace(/[.]/g, '\\.')} \\(linux/amd64\\); the bundle carries linux/arm64/v8`));
    } finally {
      await registry.stop();
    }
  });

  it('Ctrl-C during injection: exit 130, agents removed, no image under its final name', async () => {
    const registry = await startRegistry();
    const bundlePath = join(work, 'ctrlc.tar');
    let image: PushedImage;
    try {
      image = await pushImage(registry, { repository: 'e2e/ctrlc', tag: '1', layers: [{ randomBytes: 96 << 20, seed: 'e2e-ctrlc' }] });
      const spec = join(work, 'ctrlc.yaml');
      await writeFile(spec, specText([image.ref], ['linux/amd64']));
      const created = await runLading(['create', spec, '-o', bundlePath], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(created.code, 0, created.stderr);
    } finally {
      await registry.stop();
    }
    let interrupted = false;
    const r = await runLading(['install', bundlePath, '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', ...clusterFlags(c)], {
      timeoutMs: 180_000,
      onSpawn: (child) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          if (!interrupted && /injecting 1 images/.test(chunk.toString())) {
            interrupted = true;
            setTimeout(() => child.kill('SIGINT'), 300);
          }
        }),
    });
    assert.ok(interrupted, r.stdout);
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    const agents = await c.core.listNamespacedPod({ namespace: 'lading-system', labelSelector: 'app.kubernetes.io/name=lading-agent' });
    assert.deepEqual(agents.items.map((p) => p.metadata?.name), [], 'no agent pod is left');
    const ctr = c.env['LADING_CTR']!;
    const listed = await run(ctr, ['-a', c.env['LADING_CONTAINERD_ADDRESS']!, '-n', 'k8s.io', 'images', 'ls', '-q']);
    assert.ok(!listed.stdout.split('\n').includes(image!.ref), 'the interrupted image is not named on the node');
  });

  it('mirror credentials from --mirror-auth or a Secret: the node pulls from an authenticated mirror; the secret is never printed', async () => {
    const registry = await startRegistry({ auth: { username: 'site', password: 'mirror-s3cret' } });
    try {
      const secretImage = await pushImage(registry, {
        repository: 'lading-e2e/secret',
        tag: '1',
        layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }],
        config: { Entrypoint: ['/app'] },
      });
      const carried = await pushImage(registry, { repository: 'e2e/carried', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }], config: { Entrypoint: ['/app'] } });
      const authFile = join(work, 'mirror-auth.json');
      await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('site:mirror-s3cret').toString('base64') } } }));
      const spec = join(work, 'auth-mirrors.yaml');
      await writeFile(spec, `${specText([carried.ref], ['linux/amd64'])}  mirrors:\n    - registry: auth-mirror.lading.test\n      endpoints: [${registry.url}]\n`);
      const withMirrors = join(work, 'auth-mirrors.tar');
      const created = await runLading(['create', spec, '-o', withMirrors], { env: { LADING_CACHE_DIR: join(work, 'cache'), REGISTRY_AUTH_FILE: authFile } });
      assert.equal(created.code, 0, created.stderr);

      const config = join(dirname(c.kubeconfigPath), 'containerd', 'config.toml');
      const r = await runLading(['install', withMirrors, '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', '--containerd-config', config, '--mirror-auth', authFile, ...clusterFlags(c)], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('mirror-s3cret') && !`${r.stdout}${r.stderr}`.includes(Buffer.from('site:mirror-s3cret').toString('base64')), 'no secret in the output');
      const hostsToml = join(dirname(c.kubeconfigPath), 'containerd', 'certs.d', 'auth-mirror.lading.test', 'hosts.toml');
      const { stdout: mode } = await run('stat', ['-c', '%a', hostsToml]);
      assert.equal(mode.trim(), '600');

      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('via-auth-mirror', c.nodeName, 'auth-mirror.lading.test/lading-e2e/secret:1', { pull: 'IfNotPresent' }) });
      const pod = await waitForPodRunning(c, ns!, 'via-auth-mirror');
      assert.match(pod.status!.containerStatuses![0]!.imageID, new RegExp(secretImage.digest));

      const restore = await runLading(['install', '--restore', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', '--containerd-config', config], { timeoutMs: 180_000 });
      assert.equal(restore.code, 0, restore.stderr);
      await assert.rejects(readFile(hostsToml), /ENOENT/);

      // The same credentials from a dockerconfigjson Secret in the cluster, for an image not pulled yet.
      const second = await pushImage(registry, { repository: 'lading-e2e/secret2', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }], config: { Entrypoint: ['/app'] } });
      await c.core.createNamespacedSecret({
        namespace: ns!,
        body: { metadata: { name: 'mirror-creds' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(await readFile(authFile)).toString('base64') } },
      });
      const viaSecret = await runLading(['install', withMirrors, '--kubeconfig', c.kubeconfigPath, '--yes', '--no-tui', '--containerd-config', config, '--mirror-auth-secret', `${ns}/mirror-creds`, ...clusterFlags(c)], { timeoutMs: 300_000 });
      assert.equal(viaSecret.code, 0, `${viaSecret.stdout}\n${viaSecret.stderr}`);
      assert.ok(!`${viaSecret.stdout}${viaSecret.stderr}`.includes('mirror-s3cret'));
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('via-secret', c.nodeName, 'auth-mirror.lading.test/lading-e2e/secret2:1', { pull: 'IfNotPresent' }) });
      const viaSecretPod = await waitForPodRunning(c, ns!, 'via-secret');
      assert.match(viaSecretPod.status!.containerStatuses![0]!.imageID, new RegExp(second.digest));
      const restoreAgain = await runLading(['install', '--restore', '--kubeconfig', c.kubeconfigPath, '--yes', '--json', '--containerd-config', config], { timeoutMs: 180_000 });
      assert.equal(restoreAgain.code, 0, restoreAgain.stderr);
    } finally {
      await registry.stop();
    }
  });
});

/** The harness's node has containerd and ctr in non-default places: tell lading where (as an operator would). */
function clusterFlags(c: TestCluster): string[] {
  const flags: string[] = [];
  if (c.env['LADING_CONTAINERD_ADDRESS']) flags.push('--containerd-socket', c.env['LADING_CONTAINERD_ADDRESS']);
  if (c.env['LADING_CTR']) flags.push('--ctr', c.env['LADING_CTR']);
  return flags;
}
