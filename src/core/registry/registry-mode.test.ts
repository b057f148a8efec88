import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { bundleImage, digestOf } from '../install/test-fixtures.js';
import { ApiProxyTransport, serviceProxyPrefix } from './api-proxy.js';
import { registryDeployment, registryEndpoint, registryService, registryStorage } from './deploy.js';
import { pushTarget, registryBytes, registryMirrors, registrySpaceProblem, repositoryClashes, sourceRegistries } from './registry-mode.js';

describe('registry mode: where images go and how nodes find them', () => {
  const nginx = bundleImage('docker.io/library/nginx:1.27', 'a');
  const pause = bundleImage('registry.k8s.io/pause:3.10', 'b');
  const pinned = bundleImage('quay.io/org/app@sha256:' + 'c'.repeat(64), 'c');

  it('an image keeps its path and tag in the registry, so a mirror serves it under its original name', () => {
    assert.deepEqual(pushTarget(nginx), { repository: 'library/nginx', tag: '1.27' });
    assert.deepEqual(pushTarget(pinned), { repository: 'org/app', tag: undefined });
    assert.deepEqual(sourceRegistries([nginx, pause, pinned]), ['docker.io', 'quay.io', 'registry.k8s.io']);
  });

  it('two registries with one path would overwrite each other: named', () => {
    assert.deepEqual(repositoryClashes([nginx, bundleImage('ghcr.io/library/nginx:2', 'd')]), ['library/nginx (from docker.io and ghcr.io)']);
    assert.deepEqual(repositoryClashes([nginx, pause]), []);
  });

  it('every source registry gets the in-cluster registry first, before the bundle\'s own mirrors', () => {
    const mirrors = registryMirrors([nginx, pause], [{ registry: 'docker.io', endpoints: ['https://harbor.site'], skipVerify: false }, { registry: 'ghcr.io', endpoints: ['https://m.site'], skipVerify: true }], 'http://10.0.0.5:5000');
    assert.deepEqual(mirrors, [
      { registry: 'docker.io', endpoints: ['http://10.0.0.5:5000', 'https://harbor.site'], skipVerify: false },
      { registry: 'ghcr.io', endpoints: ['https://m.site'], skipVerify: true },
      { registry: 'registry.k8s.io', endpoints: ['http://10.0.0.5:5000'], skipVerify: false },
    ]);
  });

  it('the registry listens on its node\'s address (no kube-proxy, no NodePort), pinned there, never pulled, data on the node', () => {
    assert.equal(registryEndpoint({ nodeAddress: '10.0.0.5', port: 5000 }), 'http://10.0.0.5:5000');
    assert.equal(registryEndpoint({ nodeAddress: 'fd00::5', port: 5000 }), 'http://[fd00::5]:5000');
    const d = registryDeployment({ namespace: 'lading-system', node: 'n1', hostnameLabel: 'n1-host', nodeAddress: '10.0.0.5', image: 'docker.io/library/registry:2.8.3', port: 5000, storage: registryStorage(null) });
    const pod = d.spec!.template.spec!;
    assert.equal(pod.hostNetwork, true);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/hostname': 'n1-host' });
    assert.equal(pod.containers[0]!.imagePullPolicy, 'Never');
    assert.equal(pod.volumes![0]!.hostPath!.path, '/var/lib/lading/registry');
    assert.equal(d.spec!.strategy!.type, 'Recreate');
    assert.deepEqual(pod.containers[0]!.readinessProbe!.httpGet, { path: '/v2/', port: 5000 });
  });

  it('with credentials: htpasswd from the Secret, a push gate beside it run from ConfigMaps as nobody, its port in the Service', () => {
    const gate = { id: 'abc', configMaps: [], volume: { name: 'lading-push-gate', projected: { sources: [] } }, command: ['/lading/gate/loader', '/lading/gate/program.0', '--'] };
    const p = { namespace: 'lading-system', node: 'n1', hostnameLabel: 'n1-host', nodeAddress: '10.0.0.5', image: 'docker.io/library/registry:2.8.3', port: 5000, storage: registryStorage(null), auth: { pushPort: 5001, gate } };
    const pod = registryDeployment(p).spec!.template.spec!;
    const [registry, pushGate] = pod.containers;
    assert.deepEqual(registry!.env!.filter((e) => e.name.startsWith('REGISTRY_AUTH')).map((e) => [e.name, e.value]), [['REGISTRY_AUTH', 'htpasswd'], ['REGISTRY_AUTH_HTPASSWD_REALM', 'lading-registry'], ['REGISTRY_AUTH_HTPASSWD_PATH', '/lading/auth/htpasswd']]);
    assert.deepEqual(registry!.readinessProbe!.tcpSocket, { port: 5000 }, '/v2/ answers 401 to the kubelet');
    assert.deepEqual(pushGate!.command, ['/lading/gate/loader', '/lading/gate/program.0', '--', 'injector', 'gate', '-listen', ':5001', '-upstream', '127.0.0.1:5000', '-secrets', '/lading/push-secrets']);
    assert.equal(pushGate!.image, p.image);
    assert.equal(pushGate!.imagePullPolicy, 'Never');
    assert.deepEqual(pushGate!.securityContext, { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    assert.deepEqual(pushGate!.readinessProbe!.httpGet, { path: '/lading-gate/ready', port: 5001 });
    const secretVolumes = pod.volumes!.filter((v) => v.secret).map((v) => [v.name, v.secret!.secretName, v.secret!.items!.map((i) => i.key)]);
    assert.deepEqual(secretVolumes, [['htpasswd', 'lading-registry-auth', ['htpasswd']], ['push-secrets', 'lading-registry-auth', ['push-token', 'registry-credentials']]]);
    assert.deepEqual(registryService(p).spec!.ports!.map((x) => [x.name, x.port]), [['registry', 5000], ['push', 5001]]);
    assert.deepEqual(registryService({ ...p, auth: undefined }).spec!.ports!.map((x) => [x.name, x.port]), [['registry', 5000]]);
  });

  it('its storage is a hostPath on its node, and the plan says why, with or without a default StorageClass', () => {
    assert.match(registryStorage(null).reason, /survives the pod's restart and the node's reset.*; the cluster has no default StorageClass$/);
    assert.match(registryStorage('local-path').reason, /not a PVC of StorageClass local-path: its driver would have to run before the registry, and its images may come from this registry$/);
    assert.match(registryStorage(undefined).reason, /lading may not list StorageClasses$/);
    assert.deepEqual([registryStorage(null).kind, registryStorage(null).path], ['hostPath', '/var/lib/lading/registry']);
  });
});

describe('registry mode: room for the registry\'s data on its node', () => {
  it('counts every blob once (roots, manifests, configs, layers shared between images)', () => {
    const a = bundleImage('docker.io/library/a:1', digestOf('a'), ['linux/amd64'], 1000);
    const b = bundleImage('docker.io/library/b:1', digestOf('b'), ['linux/amd64'], 1000);
    // The fixture gives both the same manifest and config digests; b's layer is its own.
    assert.equal(registryBytes([a]), 100 + 10 + 10 + 1000);
    assert.equal(registryBytes([a, b]), 100 + 10 + 10 + 1000 + 100 + 1000);
    assert.equal(registryBytes([a, { ...b, platforms: [{ ...b.platforms[0]!, layers: a.platforms[0]!.layers }] }]), 100 + 10 + 10 + 1000 + 100);
  });

  it('refuses with the sizes when the data would eat into what must stay free; silent when the node does not say', () => {
    const GiB = 2 ** 30;
    assert.equal(registrySpaceProblem(5 * GiB, { available: 20 * GiB, size: 100 * GiB }, 15), undefined);
    assert.equal(registrySpaceProblem(6 * GiB, { available: 20 * GiB, size: 100 * GiB }, 15), 'the registry would store 6.0 GiB, but its node\'s filesystem has 20.0 GiB free of 100 GiB and 15 % of it must stay free');
    assert.equal(registrySpaceProblem(6 * GiB, undefined, 15), undefined);
  });
});

describe('the API server proxy transport', () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://api.example:6443', skipTLSVerify: false }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const transport = new ApiProxyTransport(kc, 'https://api.example:6443', { namespace: 'lading-system', service: 'lading-registry', port: 5000 });

  it('proxies to the Service through services/proxy', () => {
    assert.equal(serviceProxyPrefix({ namespace: 'lading-system', service: 'lading-registry', port: 5000 }), '/api/v1/namespaces/lading-system/services/http:lading-registry:5000/proxy');
  });

  it('reads an upload location as the registry wrote it, or as the API server rewrote it', () => {
    assert.equal(transport.locate('/v2/a/blobs/uploads/u1?_state=x'), '/v2/a/blobs/uploads/u1?_state=x');
    assert.equal(transport.locate('https://api.example:6443/api/v1/namespaces/lading-system/services/http:lading-registry:5000/proxy/v2/a/blobs/uploads/u1?_state=x'), '/v2/a/blobs/uploads/u1?_state=x');
    assert.equal(transport.locate('http://10.0.0.5:5000/v2/a/blobs/uploads/u2'), '/v2/a/blobs/uploads/u2');
    assert.throws(() => transport.locate('https://api.example:6443/api/v1/namespaces/kube-system/secrets'), /upload location elsewhere/);
  });
});
