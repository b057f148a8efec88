// The harness's self-proof: its nodes look like machines. Run by test/cluster/e2e on a cluster of its own
// with both nodes (LADING_CLUSTER_NODES=containerd,crio): each Ready with its runtime, its own namespaces,
// address, hostname and standard paths, a console (test/cluster/ssh), pods from the sandbox image, and
// resets that behave like a machine's (a new boot id; CRI-O wipes its default image store after a power
// cut, not its additional stores).
//
// e2e-nodes: containerd,crio
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import {
  connect,
  createNamespace,
  deleteNamespace,
  pinnedVersions,
  podSpec,
  resetNode,
  ssh,
  waitFor,
  waitForPodRunning,
  type ClusterNode,
  type TestCluster,
} from './helpers/cluster.js';

const TOOLBOX_IMAGE = 'lading.test/e2e/toolbox:1';

/** `ssh` that must succeed; returns stdout. */
async function on(c: TestCluster, node: ClusterNode, ...command: string[]): Promise<string> {
  const r = await ssh(c, node.key, command);
  assert.equal(r.code, 0, `${node.key}$ ${command.join(' ')}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function bootId(c: TestCluster, node: ClusterNode): Promise<string> {
  return (await c.core.readNode({ name: node.name })).status!.nodeInfo!.bootID;
}

async function readyAgain(c: TestCluster, node: ClusterNode, oldBootId: string): Promise<string> {
  return waitFor(`node ${node.name} Ready with a new boot id`, async () => {
    const n = await c.core.readNode({ name: node.name });
    const ready = n.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    const id = n.status?.nodeInfo?.bootID;
    return ready && id && id !== oldBootId ? id : undefined;
  }, 180_000);
}

/** GET through the API server with the admin identity (binary-safe, small bodies). */
async function apiGet(c: TestCluster, path: string): Promise<{ status: number; body: string }> {
  const server = new URL(c.kc.getCurrentCluster()!.server);
  const options: https.RequestOptions = { method: 'GET', hostname: server.hostname, port: server.port, path, timeout: 20_000 };
  await c.kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const n = (a: string): number => a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (n(ip) & mask) === (n(net) & mask);
}

describe('test cluster nodes', () => {
  let c: TestCluster;
  let containerd: ClusterNode;
  let crio: ClusterNode;
  let ns: string | undefined;

  before(async () => {
    c = await connect();
    const byKey = new Map(c.nodes.map((n) => [n.key, n]));
    if (!byKey.has('containerd') || !byKey.has('crio')) {
      throw new Error(
        `these specs need both nodes; the cluster has ${JSON.stringify(c.nodes.map((n) => n.key))}. ` +
          'Start it with LADING_CLUSTER_NODES=containerd,crio bash test/cluster/up (test/cluster/e2e does).',
      );
    }
    containerd = byKey.get('containerd')!;
    crio = byKey.get('crio')!;
    ns = await createNamespace(c, 'node');
  });
  after(async () => {
    if (c) await deleteNamespace(c, ns);
  });

  it('has exactly its nodes, each Ready and untainted, the containerd node under the name the specs use', async () => {
    const nodes = await c.core.listNode();
    assert.deepEqual(nodes.items.map((n) => n.metadata?.name).sort(), c.nodes.map((n) => n.name).sort());
    assert.equal(c.nodeName, containerd.name);
    for (const node of nodes.items) {
      const ready = node.status?.conditions?.find((x) => x.type === 'Ready');
      assert.equal(ready?.status, 'True', `${node.metadata?.name} Ready condition: ${JSON.stringify(ready)}`);
      assert.ok(!node.spec?.unschedulable, `${node.metadata?.name} is cordoned`);
      assert.deepEqual(node.spec?.taints ?? [], [], `${node.metadata?.name} has taints`);
    }
  });

  it('each node reports its runtime (containerd 2.x, CRI-O) and the pinned kubelet', async () => {
    const pins = pinnedVersions();
    const expected: Record<string, string> = {
      containerd: `containerd://${pins.containerd.replace(/^v/, '')}`,
      crio: `cri-o://${pins.crio.replace(/^v/, '')}`,
    };
    for (const node of c.nodes) {
      const info = (await c.core.readNode({ name: node.name })).status?.nodeInfo;
      assert.ok(info, `${node.name} has no nodeInfo`);
      assert.equal(info.containerRuntimeVersion, expected[node.key]);
      assert.equal(info.kubeletVersion, pins.kubernetes);
      assert.equal(info.operatingSystem, 'linux');
    }
    assert.match(expected['containerd']!, /^containerd:\/\/2\./);
    const version = await c.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(version.gitVersion, pins.kubernetes);
  });

  it('each node has its own address on the bridge, hostname, machine id and boot id, none of them the machine\'s', async () => {
    const machineBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const seen = new Set<string>();
    for (const node of c.nodes) {
      const n = await c.core.readNode({ name: node.name });
      const internal = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      assert.equal(internal, node.ip);
      assert.ok(inSubnet(node.ip, '10.211.0.0/24'), node.ip);
      assert.equal((await on(c, node, 'hostname')).trim(), node.hostname);
      assert.notEqual(node.hostname, hostname());
      // the address is the node's own, in a network namespace of its own
      assert.match(await on(c, node, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'), new RegExp(`inet ${node.ip.replace(/\./g, '\\.')}/24`));
      const id = (await on(c, node, 'cat', '/proc/sys/kernel/random/boot_id')).trim();
      assert.equal(id, n.status?.nodeInfo?.bootID, 'the kubelet reports the node\'s boot id');
      assert.notEqual(id, machineBootId);
      const machineId = (await on(c, node, 'cat', '/etc/machine-id')).trim();
      for (const v of [id, machineId]) {
        assert.ok(!seen.has(v), `${v} is shared by two nodes`);
        seen.add(v);
      }
    }
  });

  it('ssh: commands run inside the node with its exit code, standard input and PATH (crictl, podman, systemctl)', async () => {
    for (const node of c.nodes) {
      const failed = await ssh(c, node.key, ['sh', '-c', 'exit 7']);
      assert.equal(failed.code, 7);
      const echoed = await ssh(c, node.key, ['cat'], { input: 'through stdin\n' });
      assert.equal(echoed.stdout, 'through stdin\n');
      const which = await on(c, node, 'bash', '-c', 'command -v crictl podman systemctl');
      assert.deepEqual(which.trim().split('\n'), ['/usr/local/bin/crictl', '/usr/bin/podman', '/usr/local/bin/systemctl']);
      assert.match(await on(c, node, 'systemctl', 'is-active', 'kubelet'), /^active/);
      // the Kubernetes name works as well as the key
      assert.equal((await ssh(c, node.name, ['hostname'])).stdout.trim(), node.hostname);
    }
  });

  it('inside a node the standard paths are the real ones, and /run is the node\'s own', async () => {
    const marker = `lading-e2e-${randomBytes(4).toString('hex')}`;
    for (const node of c.nodes) {
      assert.equal((await on(c, node, 'stat', '-f', '-c', '%T', '/run')).trim(), 'tmpfs');
      await on(c, node, 'touch', `/run/${marker}`, `/etc/${marker}`, `/var/lib/${marker}`);
      assert.ok(!existsSync(`/run/${marker}`) && !existsSync(`/etc/${marker}`) && !existsSync(`/var/lib/${marker}`), 'the node wrote into the machine\'s /run, /etc or /var/lib');
      await on(c, node, 'rm', `/run/${marker}`, `/etc/${marker}`, `/var/lib/${marker}`);
      // crictl with no flags: /etc/crictl.yaml names the runtime's standard socket
      assert.match(await on(c, node, 'crictl', 'info'), /"RuntimeReady"/);
      await on(c, node, 'test', '-f', '/var/lib/kubelet/config.yaml', '-a', '-f', '/etc/kubernetes/kubelet.conf', '-a', '-f', '/etc/containers/storage.conf');
      await on(c, node, 'test', '-d', '/var/log/pods');
    }
    await on(c, containerd, 'test', '-S', '/run/containerd/containerd.sock', '-a', '-f', '/etc/containerd/config.toml', '-a', '-d', '/var/lib/containerd');
    assert.match(await on(c, containerd, 'ctr', 'version'), /Version: +v?2\./); // ctr on PATH, default socket
    assert.match(await on(c, containerd, 'ctr', '-n', 'k8s.io', 'images', 'ls', '-q'), /registry\.k8s\.io\/pause:3\.10/);
    await on(c, crio, 'test', '-S', '/run/crio/crio.sock', '-a', '-d', '/etc/crio', '-a', '-d', '/var/lib/containers/storage', '-a', '-d', '/etc/containers/registries.conf.d');
    assert.match(await on(c, crio, 'crictl', 'version'), /RuntimeName: +cri-o/);
    assert.match(await on(c, crio, 'podman', 'images', '--format', '{{.Repository}}:{{.Tag}}'), /registry\.k8s\.io\/pause:3\.10/);
  });

  it('each node holds its sandbox image and nothing an installer would not have put there', async () => {
    const { sandboxImage } = pinnedVersions();
    for (const node of c.nodes) {
      const n = await c.core.readNode({ name: node.name });
      const names = (n.status?.images ?? []).flatMap((i) => i.names ?? []).filter((x) => !x.includes('@sha256:'));
      assert.ok(names.includes(sandboxImage), `${node.name}: sandbox image ${sandboxImage} missing from ${JSON.stringify(names)}`);
      assert.deepEqual(names.filter((x) => x !== sandboxImage && x !== TOOLBOX_IMAGE), [], `${node.name} holds images it should not`);
    }
  });

  it('a pod on each node from its sandbox image (pull Never) runs with an address from that node\'s pod range; the kubelet summary is reachable through the API server', async () => {
    const { sandboxImage } = pinnedVersions();
    for (const node of c.nodes) {
      const name = `sandbox-${node.key}`;
      await c.core.createNamespacedPod({ namespace: ns!, body: podSpec(name, node.name, sandboxImage) });
      const pod = await waitForPodRunning(c, ns!, name);
      assert.ok(inSubnet(pod.status!.podIP!, `10.212.${node.key === 'containerd' ? 1 : 2}.0/24`), `${name}: ${pod.status?.podIP}`);
      assert.equal(pod.status?.hostIP, node.ip);
      // the API server proxies to the node's kubelet (its address is not loopback any more)
      const summary = await apiGet(c, `/api/v1/nodes/${encodeURIComponent(node.name)}/proxy/stats/summary`);
      assert.equal(summary.status, 200, summary.body.slice(0, 300));
      const fs = JSON.parse(summary.body).node?.runtime?.imageFs;
      assert.ok(fs?.capacityBytes > 0 && fs?.availableBytes > 0, `imageFs in the summary of ${node.name}: ${JSON.stringify(fs)}`);
    }
  });

  it('containerd node: a power cut and boot give a new boot id, the node is Ready again and its pod runs again', async () => {
    const before = await bootId(c, containerd);
    const pod = await c.core.readNamespacedPod({ name: 'sandbox-containerd', namespace: ns! });
    const out = await resetNode(c, containerd.key);
    assert.match(out.stdout, /node containerd reset \(hard\) in [\d.]+s .*Ready again after [\d.]+s/);
    const after = await readyAgain(c, containerd, before);
    assert.equal((await on(c, containerd, 'cat', '/proc/sys/kernel/random/boot_id')).trim(), after);
    // the kubelet starts the pod again in a new sandbox; its image (the pinned sandbox image) survived
    await waitFor('the pod to run again after the reset', async () => {
      const p = await c.core.readNamespacedPod({ name: 'sandbox-containerd', namespace: ns! });
      const ready = p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      const restarted = (p.status?.containerStatuses?.[0]?.restartCount ?? 0) > (pod.status?.containerStatuses?.[0]?.restartCount ?? 0);
      return ready && restarted ? true : undefined;
    }, 180_000);
    assert.match(await on(c, containerd, 'ctr', '-n', 'k8s.io', 'images', 'ls', '-q'), /registry\.k8s\.io\/pause:3\.10/);
  });

  it('CRI-O node: a clean reset keeps the default image store; a power cut wipes it (crio wipe) while an additional store survives and serves pods', async () => {
    const { sandboxImage } = pinnedVersions();
    const archive = `${c.env['LADING_CLUSTER_STATE']}/images/pause/pause.oci.tar`;
    // one image only in the default store (graphroot), one in an additional store that storage.conf lists
    await on(c, crio, 'podman', 'tag', sandboxImage, 'lading.test/e2e/default-only:1');
    const store = ['--root', '/var/lib/e2e-store', '--runroot', '/run/e2e-store', '--storage-driver', 'overlay'];
    await on(c, crio, 'podman', ...store, 'load', '-q', '-i', archive);
    await on(c, crio, 'podman', ...store, 'tag', sandboxImage, 'lading.test/e2e/additional:1');
    await on(c, crio, 'sed', '-i', 's|^additionalimagestores = \\[\\]|additionalimagestores = ["/var/lib/e2e-store"]|', '/etc/containers/storage.conf');
    assert.match(await on(c, crio, 'cat', '/etc/containers/storage.conf'), /additionalimagestores = \["\/var\/lib\/e2e-store"\]/);
    // storage.conf is read when CRI-O starts: restart it as an operator (or lading's agent) would
    await on(c, crio, 'systemctl', 'restart', 'crio');
    const images = async (): Promise<string[]> =>
      (JSON.parse(await on(c, crio, 'crictl', 'images', '-o', 'json')).images as { repoTags: string[] }[]).flatMap((i) => i.repoTags);
    const listed = await images();
    for (const name of ['lading.test/e2e/default-only:1', 'lading.test/e2e/additional:1', sandboxImage]) assert.ok(listed.includes(name), `${name} in ${listed}`);

    const first = await bootId(c, crio);
    await resetNode(c, crio.key, { clean: true });
    const second = await readyAgain(c, crio, first);
    const afterClean = await images();
    assert.ok(afterClean.includes('lading.test/e2e/default-only:1'), `a clean shutdown keeps the default store: ${afterClean}`);

    const out = await resetNode(c, crio.key);
    assert.match(out.stdout, /node crio reset \(hard\)/);
    await readyAgain(c, crio, second);
    assert.match(await on(c, crio, 'cat', '/var/log/lading/crio-wipe.log'), /unclean shutdown/i);
    const afterCut = await images();
    assert.ok(!afterCut.includes('lading.test/e2e/default-only:1'), `the default store was wiped: ${afterCut}`);
    assert.ok(afterCut.includes('lading.test/e2e/additional:1'), `the additional store survived: ${afterCut}`);
    // and serves a pod (its sandbox image too: pause is in the additional store as well)
    await c.core.createNamespacedPod({ namespace: ns!, body: podSpec('from-additional', crio.name, 'lading.test/e2e/additional:1') });
    await waitForPodRunning(c, ns!, 'from-additional', 180_000);
  });
});
