/**
 * The ConfigMap bootstrap (issue 10) on both nodes, with an identity as locked-down clusters give one: a
 * ServiceAccount that may create ConfigMaps, pods, Services and Deployments in its namespace but has no
 * pods/exec, in a namespace that enforces PodSecurity `restricted`. `install --registry` chooses the
 * ConfigMap injector by itself: the registry image and lading's injector travel in ConfigMaps, a restricted
 * pod on the node's sandbox image serves them, the node's runtime pulls the registry through kube-proxy's
 * localhost NodePort, every image is pushed through the API server, and pods by the printed references
 * start on both nodes while no registry outside the cluster exists. Nothing of the injector is left.
 *
 * e2e-nodes: containerd,crio
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { connect, createNamespace, deleteNamespace, pinnedVersions, ssh, waitFor, waitForPodRunning, type TestCluster } from './helpers/cluster.js';
import { startRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';
import { EXECUTABLE, ensureExecutable } from '../support/executable.js';

const run = promisify(execFile);
const NS = 'lading-restricted';

interface Report {
  ok: boolean;
  nodes: Array<{ node: string; images: Array<{ name: string; outcome: string; proof?: { byPull?: string } }>; smoke?: { ok: boolean; detail: string }; changedFiles: string[] }>;
  registry: {
    node: string;
    endpoint: string;
    storage: { kind: string };
    injector?: { configMaps: number; bytes: number; injectorBytes: number; loaderBytes: number; injectorReadyMs: number; registryReadyMs: number };
    references?: Array<{ image: string; reference: string }>;
    held?: { ok: boolean; missing: string[] };
  };
}

describe('the ConfigMap bootstrap: no exec, PodSecurity restricted, both nodes pull by in-cluster references', () => {
  let c: TestCluster;
  let work: string;
  let bundle: string;
  let app: PushedImage;
  let kubeconfig: string;
  let ns: string | undefined;

  before(async () => {
    c = await connect();
    assert.ok(c.nodes.some((n) => n.runtime === 'containerd') && c.nodes.some((n) => n.runtime === 'crio'), `these specs need both nodes; the cluster has ${c.nodes.map((n) => n.key).join(', ')}`);
    const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo`');
    const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-configmap-'));
    await writeFile(join(work, 'app.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await run(gcc, ['-static', '-Os', '-o', join(work, 'app'), join(work, 'app.c')]);
    const registry = await startRegistry();
    try {
      app = await pushImage(registry, { repository: 'e2e/configmap-app', tag: '1', layers: [{ files: { app: { content: await readFile(join(work, 'app')), mode: 0o755 } } }], config: { Entrypoint: ['/app'] } });
      const registryRef = `${registry.host}/lading/registry:${pinnedVersions().registryImage.split(':').pop()}`;
      await run(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${join(c.env['LADING_CLUSTER_STATE']!, 'images/registry/registry.oci.tar')}`, `docker://${registryRef}`]);
      await writeFile(join(work, 'spec.yaml'), specText([app.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: 5000}\n`));
      const r = await runLading(['create', join(work, 'spec.yaml'), '-o', join(work, 'site.tar')], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
      assert.equal(r.code, 0, r.stderr);
      bundle = join(work, 'site.tar');
    } finally {
      // From here on no registry exists outside the cluster.
      await registry.stop();
    }
    // The locked-down identity: no pods/exec, in a namespace that enforces restricted.
    await c.core.createNamespace({ body: { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'lading.test/e2e': 'true' } } } });
    await c.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'operator' } } });
    const rbac = c.kc.makeApiClient((await import('@kubernetes/client-node')).RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: NS,
      body: {
        metadata: { name: 'lading-operator' },
        rules: [
          { apiGroups: [''], resources: ['configmaps', 'pods', 'services', 'events', 'resourcequotas'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] },
          { apiGroups: [''], resources: ['services/proxy'], verbs: ['get', 'create', 'update', 'patch'] },
          { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({ namespace: NS, body: { metadata: { name: 'lading-operator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lading-operator' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NS }] } });
    // An administrator lets the operator read kube-proxy's configuration (kubeadm's ConfigMap), as lading's preflight asks.
    await rbac.createNamespacedRole({ namespace: 'kube-system', body: { metadata: { name: 'lading-e2e-read-kube-proxy' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['kube-proxy'], verbs: ['get'] }] } }).catch(() => undefined);
    await rbac.createNamespacedRoleBinding({ namespace: 'kube-system', body: { metadata: { name: 'lading-e2e-read-kube-proxy' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lading-e2e-read-kube-proxy' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NS }] } }).catch(() => undefined);
    await rbac.createClusterRole({ body: { metadata: { name: 'lading-e2e-operator-nodes' }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] }] } }).catch(() => undefined);
    await rbac.createClusterRoleBinding({ body: { metadata: { name: 'lading-e2e-operator-nodes' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lading-e2e-operator-nodes' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NS }] } }).catch(() => undefined);
    const token = await c.core.createNamespacedServiceAccountToken({ name: 'operator', namespace: NS, body: { spec: { audiences: [], expirationSeconds: 7200 } } });
    const cluster = c.kc.getCurrentCluster()!;
    kubeconfig = join(work, 'operator.kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'lading', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(await readFile(join(c.env['LADING_CLUSTER_STATE']!, 'pki/ca.crt'))).toString('base64') } }],
        users: [{ name: 'operator', user: { token: token.status!.token } }],
        contexts: [{ name: 'lading', context: { cluster: 'lading', user: 'operator', namespace: NS } }],
        'current-context': 'lading',
      }),
    );
    ns = await createNamespace(c, 'configmap');
  });

  after(async () => {
    if (c) {
      await deleteNamespace(c, ns);
      await deleteNamespace(c, NS);
      const rbac = c.kc.makeApiClient((await import('@kubernetes/client-node')).RbacAuthorizationV1Api);
      await rbac.deleteNamespacedRoleBinding({ namespace: 'kube-system', name: 'lading-e2e-read-kube-proxy' }).catch(() => undefined);
      await rbac.deleteNamespacedRole({ namespace: 'kube-system', name: 'lading-e2e-read-kube-proxy' }).catch(() => undefined);
      await rbac.deleteClusterRoleBinding({ name: 'lading-e2e-operator-nodes' }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: 'lading-e2e-operator-nodes' }).catch(() => undefined);
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  const install = (...extra: string[]) => runLading(['install', bundle, '--registry', '--kubeconfig', kubeconfig, '--namespace', NS, '--yes', '--no-tui', ...extra], { timeoutMs: 600_000 });
  /** Nothing of a run is left: no payload ConfigMap, no injector, no registry. */
  const nothingLeft = async () => {
    assert.deepEqual((await c.core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'lading.dev/payload' })).items.map((x) => x.metadata?.name), [], 'no payload ConfigMap');
    assert.deepEqual((await c.core.listNamespacedPod({ namespace: NS })).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name), [], 'no pod');
    assert.deepEqual((await c.apps.listNamespacedDeployment({ namespace: NS })).items.map((d) => d.metadata?.name), [], 'no Deployment');
  };

  it('--bootstrap exec is refused for this identity before anything is written, naming what it lacks', async () => {
    const r = await install('--bootstrap', 'exec');
    assert.equal(r.code, 9, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /does not allow this identity to: .*create pods\/exec in namespace lading-restricted/);
    await nothingLeft();
  });

  it('a ConfigMap quota too small for the payload is refused before the first ConfigMap is written', async () => {
    await c.core.createNamespacedResourceQuota({ namespace: NS, body: { metadata: { name: 'few-configmaps' }, spec: { hard: { 'count/configmaps': '3' } } } });
    try {
      await waitFor('the quota\'s status', async () => ((await c.core.readNamespacedResourceQuota({ namespace: NS, name: 'few-configmaps' })).status?.hard ? true : undefined), 30_000);
      const r = await install();
      assert.equal(r.code, 9, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /the injector payload needs \d+ ConfigMaps \([0-9.]+ MiB\), but ResourceQuota few-configmaps in namespace lading-restricted allows \d+ more/);
      await nothingLeft();
    } finally {
      await c.core.deleteNamespacedResourceQuota({ namespace: NS, name: 'few-configmaps' });
    }
  });

  it('kube-proxy in nftables mode (its kubeadm ConfigMap says so): refused in preflight, nothing written', async () => {
    const original = await c.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-proxy' });
    const config = original.data!['config.conf']!;
    await c.core.replaceNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-proxy', body: { ...original, data: { 'config.conf': config.replace(/^mode: .*$/m, 'mode: nftables') } } });
    try {
      const r = await install();
      assert.equal(r.code, 10, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /kube-proxy runs in nftables mode, which serves no NodePort on 127\.0\.0\.1/);
      await nothingLeft();
    } finally {
      const now = await c.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-proxy' });
      await c.core.replaceNamespacedConfigMap({ namespace: 'kube-system', name: 'kube-proxy', body: { ...now, data: { 'config.conf': config } } });
    }
  });

  it('a chunk altered in its ConfigMap (one byte): the injector refuses that blob, lading names it and removes everything', async () => {
    // The registry's node must fetch the bytes: no earlier pull of the registry image may have left them there.
    const forget = await ssh(c, 'containerd', ['sh', '-c', 'for i in $(ctr -n k8s.io images ls -q | grep /lading/registry:); do ctr -n k8s.io images rm --sync "$i" >/dev/null; done; ctr -n k8s.io images ls -q | grep -c /lading/registry: || true']);
    assert.equal(forget.stdout.trim(), '0', forget.stderr);
    // As soon as lading wrote the first ConfigMap of blob chunks, someone replaces it with one byte flipped.
    let tampered: string | undefined;
    let stop = false;
    const tamper = (async () => {
      while (!stop && !tampered) {
        const list = await c.core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'lading.dev/payload-part=chunks' });
        const cm = list.items[0];
        if (cm) {
          // The first ConfigMap holds the image's manifests (every pull asks for them, cached layers or not):
          // one byte flipped in each of its chunks.
          const flipped = Object.fromEntries(
            Object.entries(cm.binaryData!).map(([key, value]) => {
              const bytes = Buffer.from(value, 'base64');
              bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
              return [key, bytes.toString('base64')];
            }),
          );
          await c.core.deleteNamespacedConfigMap({ namespace: NS, name: cm.metadata!.name! });
          await c.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: cm.metadata!.name!, labels: cm.metadata!.labels! }, immutable: true, binaryData: flipped } });
          tampered = cm.metadata!.name!;
        } else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await install('--registry-node', c.nodes.find((n) => n.key === 'containerd')!.name);
    stop = true;
    await tamper;
    assert.ok(tampered, 'a chunk ConfigMap was altered');
    assert.equal(r.code, 6, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /the injector refused to serve what a ConfigMap altered: refused blob sha256:[0-9a-f]{64} .*chunk \d+ of \d+ \(ConfigMap lading-payload-/);
    assert.ok(r.stderr.includes(tampered), `the ConfigMap ${tampered} is named: ${r.stderr}`);
    await nothingLeft();
  });

  it('Ctrl-C while the ConfigMaps are written: exit 130, and every ConfigMap and pod of the run is gone', async () => {
    let interrupted = false;
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', kubeconfig, '--namespace', NS, '--yes', '--no-tui'], {
      timeoutMs: 300_000,
      onSpawn: (child) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          if (!interrupted && /\d+ of \d+ ConfigMaps written/.test(chunk.toString())) {
            interrupted = true;
            child.kill('SIGINT');
          }
        }),
    });
    assert.ok(interrupted, r.stdout);
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    await nothingLeft();
  });

  it('Ctrl-C while the registry starts from the injector: exit 130; the injector, its ConfigMaps and the registry this run made are gone', async () => {
    let interrupted = false;
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', kubeconfig, '--namespace', NS, '--yes', '--no-tui'], {
      timeoutMs: 300_000,
      onSpawn: (child) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          if (!interrupted && /starting the registry from 127\.0\.0\.1:/.test(chunk.toString())) {
            interrupted = true;
            child.kill('SIGINT');
          }
        }),
    });
    assert.ok(interrupted, r.stdout);
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    await waitFor('the registry\'s pod to be gone', async () => ((await c.core.listNamespacedPod({ namespace: NS })).items.length === 0 ? true : undefined), 60_000);
    await nothingLeft();
  });

  it('install --registry picks the ConfigMap injector by itself; pods by the printed references start on both nodes; nothing of the injector is left', async () => {
    const plain = await runLading(['install', bundle, '--registry', '--kubeconfig', kubeconfig, '--namespace', NS, '--yes', '--no-tui'], { timeoutMs: 600_000 });
    assert.equal(plain.code, 0, `${plain.stdout}\n${plain.stderr}`);
    assert.match(plain.stdout, /bootstrapped by the ConfigMap injector \(this identity may not create pods\/exec in lading-restricted\)/);
    assert.match(plain.stdout, /Carry the registry image in \d+ ConfigMaps/);
    assert.match(plain.stdout, /reached by its runtime as 127\.0\.0\.1:NODEPORT \(kube-proxy in iptables mode with localhost NodePorts \(ConfigMap kube-system\/kube-proxy\)\)/);
    const refs = [...plain.stdout.matchAll(/^ {4}(127\.0\.0\.1:\d+\/\S+) {4}\((\S+)\)$/gm)].map((m) => ({ reference: m[1]!, image: m[2]! }));
    const appRef = refs.find((r) => r.image === app.ref)?.reference;
    assert.ok(appRef, `the report lists a reference for ${app.ref}:\n${plain.stdout}`);

    // The injector, its Service and every payload ConfigMap are gone; the registry runs as a restricted pod.
    const leftovers = await c.core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'lading.dev/payload' });
    assert.deepEqual(leftovers.items.map((x) => x.metadata?.name), []);
    const injectors = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-injector' });
    assert.deepEqual(injectors.items.map((p) => p.metadata?.name), []);
    await assert.rejects(c.core.readNamespacedService({ namespace: NS, name: 'lading-injector' }));
    const registryPods = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=lading-registry' });
    const pod = registryPods.items.find((p) => !p.metadata?.deletionTimestamp)!;
    assert.equal(pod.spec?.hostNetwork, undefined);
    assert.match(pod.spec!.containers[0]!.image!, /^127\.0\.0\.1:\d+\/lading\/registry:/, 'started from the injector through the node\'s loopback NodePort');

    // Pods by the printed reference, with Always, on both nodes (restricted, in a namespace of the test's).
    for (const node of c.nodes) {
      const name = `by-reference-${node.key}`;
      const body: k8s.V1Pod = {
        metadata: { name },
        spec: {
          nodeName: node.name,
          terminationGracePeriodSeconds: 1,
          securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{ name: 'main', image: appRef!, imagePullPolicy: 'Always', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
        },
      };
      await c.core.createNamespacedPod({ namespace: ns!, body });
      await waitForPodRunning(c, ns!, name, 120_000);
      const events = await waitFor(`the kubelet's pull event for ${name}`, async () => {
        const list = await c.core.listNamespacedEvent({ namespace: ns!, fieldSelector: `involvedObject.name=${name}` });
        return list.items.find((e) => e.reason === 'Pulled' && /Successfully pulled/.test(e.message ?? ''));
      }, 30_000);
      assert.match(events.message!, new RegExp(appRef!.replace(/[.]/g, '\\.')));
    }
  });

  it('--json: the injector\'s figures, the references, and every node\'s proof by pull; the running registry is kept', async () => {
    const r = await runLading(['install', bundle, '--registry', '--kubeconfig', kubeconfig, '--namespace', NS, '--yes', '--json'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.ok, true);
    assert.equal(report.registry.storage.kind, 'emptyDir');
    assert.equal(report.registry.injector, undefined, 'the running registry is kept: no injector this time');
    assert.equal((report.registry as { push?: { blobsUploaded: number } }).push?.blobsUploaded, 0, 'it holds everything already');
    assert.deepEqual(report.registry.held, { ok: true, missing: [] });
    assert.equal(report.registry.references?.length, 2);
    for (const ref of report.registry.references!) assert.match(ref.reference, /^127\.0\.0\.1:\d+\//);
    assert.deepEqual(report.nodes.map((n) => n.node).sort(), c.nodes.map((n) => n.name).sort());
    for (const n of report.nodes) {
      assert.equal(n.smoke?.ok, true, n.smoke?.detail);
      for (const image of n.images) assert.match(image.proof?.byPull ?? '', /Successfully pulled/, `${n.node} ${image.name}`);
      assert.deepEqual(n.changedFiles, [], 'no node file is touched');
    }
  });
  it('--no-node-access with an identity that could exec, from the single executable (the injector it carries): the ConfigMap bootstrap all the same; no agent, no node file, its namespace not made privileged', async () => {
    const other = 'lading-no-node-access';
    process.stdout.write(`# the executable: ${await ensureExecutable()}\n`);
    const home = join(work, 'operator-home');
    try {
      // As on an operator's machine: no Go, no llvm, no checkout to build the injector from; only what the executable carries.
      const r = await runLading(['install', bundle, '--registry', '--no-node-access', '--kubeconfig', c.kubeconfigPath, '--namespace', other, '--yes', '--json'], {
        bin: EXECUTABLE,
        env: { PATH: '/nonexistent', HOME: home, XDG_CACHE_HOME: '', LADING_INJECTOR_DIR: '' },
        timeoutMs: 600_000,
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const report = JSON.parse(r.stdout) as Report;
      assert.ok(report.registry.injector, 'bootstrapped by the injector');
      const embedded = (await readdir(join(home, '.cache/lading/injector'))).filter((d) => d.startsWith('embedded-'));
      assert.equal(embedded.length, 2, `the executable wrote its injector and loader to the cache: ${embedded.join(', ')}`);
      assert.equal(report.registry.references?.length, 2);
      for (const n of report.nodes) {
        assert.equal(n.smoke?.ok, true, n.smoke?.detail);
        assert.deepEqual(n.changedFiles, []);
      }
      const namespace = await c.core.readNamespace({ name: other });
      assert.equal(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce'], undefined, 'lading did not make its namespace privileged');
      const events = await c.core.listNamespacedEvent({ namespace: other });
      assert.deepEqual(events.items.map((e) => e.involvedObject.name ?? '').filter((n) => n.startsWith('lading-agent')), [], 'no agent pod ran');
      const conflict = await runLading(['install', bundle, '--registry', '--no-node-access', '--bootstrap', 'exec', '--kubeconfig', c.kubeconfigPath, '--namespace', other, '--yes'], { timeoutMs: 60_000 });
      assert.equal(conflict.code, 2, conflict.stderr);
      assert.match(conflict.stderr, /--no-node-access and --bootstrap exec exclude each other/);
    } finally {
      await deleteNamespace(c, other);
    }
  });
  it('--registry-auth with the ConfigMap bootstrap: the restricted registry demands credentials; pods pull by reference with the pull Secret lading made; no credential printed', async () => {
    const other = 'lading-configmap-auth';
    try {
      const r = await runLading(['install', bundle, '--registry', '--no-node-access', '--registry-auth', '--kubeconfig', c.kubeconfigPath, '--namespace', other, '--yes', '--json'], { timeoutMs: 600_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const report = JSON.parse(r.stdout) as Report & { registry: { auth: string; pullSecret?: string } };
      assert.equal(report.registry.auth, 'htpasswd');
      assert.equal(report.registry.pullSecret, 'lading-registry-pull');
      for (const n of report.nodes) assert.equal(n.smoke?.ok, true, n.smoke?.detail);
      const auth = await c.core.readNamespacedSecret({ namespace: other, name: 'lading-registry-auth' });
      const password = Buffer.from(auth.data!['password']!, 'base64').toString('utf8');
      assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the password is not printed');
      const pull = await c.core.readNamespacedSecret({ namespace: other, name: 'lading-registry-pull' });
      assert.equal(pull.type, 'kubernetes.io/dockerconfigjson');
      // Without credentials the registry refuses, from the node as from anywhere.
      const host = /^127\.0\.0\.1:\d+/.exec(report.registry.references![0]!.reference)![0];
      const anonymous = await ssh(c, 'containerd', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${host}/v2/`]);
      assert.equal(anonymous.stdout, '401', anonymous.stderr);
    } finally {
      await deleteNamespace(c, other);
    }
  });
});
