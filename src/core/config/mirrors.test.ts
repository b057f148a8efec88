import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { crioMirrorsDropIn, enableConfigPath, hostsTomlPath, mergeHostsToml, readContainerdRegistryConfig } from './mirrors.js';

const hub = { registry: 'docker.io', endpoints: ['https://harbor.site.local:5000', 'http://10.0.0.5:5000'], skipVerify: false };

test('a new hosts.toml names the upstream and lading\'s mirrors in order', () => {
  const { text, changed } = mergeHostsToml(undefined, hub, 'hosts.toml');
  assert.equal(changed, true);
  assert.equal(
    text,
    `# Registry mirrors for docker.io, written by lading.
server = "https://registry-1.docker.io"

[host."https://harbor.site.local:5000"]
  capabilities = ["pull", "resolve"]

[host."http://10.0.0.5:5000"]
  capabilities = ["pull", "resolve"]
`,
  );
  assert.equal(hostsTomlPath('/etc/containerd/certs.d/', 'registry.lab:5000'), '/etc/containerd/certs.d/registry.lab:5000/hosts.toml');
});

test('an existing hosts.toml keeps its server and hosts; lading adds only what is missing, once', () => {
  const existing = 'server = "https://registry-1.docker.io"\n\n# site cache\n[host."https://cache.site:443"]\n  capabilities = ["pull"]\n  ca = "/etc/site-ca.pem"\n';
  const first = mergeHostsToml(existing, { ...hub, endpoints: ['https://cache.site:443', 'https://harbor.site.local:5000'] }, 'hosts.toml');
  assert.equal(first.changed, true);
  assert.ok(first.text.startsWith(existing), 'the original text stays as it was');
  const parsed = parse(first.text) as { host: Record<string, { capabilities: string[]; ca?: string }> };
  assert.deepEqual(Object.keys(parsed.host), ['https://cache.site:443', 'https://harbor.site.local:5000']);
  assert.equal(parsed.host['https://cache.site:443']!.ca, '/etc/site-ca.pem');
  assert.equal(mergeHostsToml(first.text, hub, 'hosts.toml').changed, true, 'the http mirror was still missing');
  const full = mergeHostsToml(first.text, hub, 'hosts.toml').text;
  assert.equal(mergeHostsToml(full, hub, 'hosts.toml').changed, false);
});

test('the CRI-O drop-in marks http and skipVerify mirrors insecure', () => {
  const text = crioMirrorsDropIn([hub, { registry: 'registry.k8s.io', endpoints: ['https://mirror.site/k8s'], skipVerify: true }]);
  const parsed = parse(text) as { registry: Array<{ prefix: string; location: string; mirror: Array<{ location: string; insecure?: boolean }> }> };
  assert.deepEqual(JSON.parse(JSON.stringify(parsed.registry)), [
    { prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'harbor.site.local:5000' }, { location: '10.0.0.5:5000', insecure: true }] },
    { prefix: 'registry.k8s.io', location: 'registry.k8s.io', mirror: [{ location: 'mirror.site/k8s', insecure: true }] },
  ]);
});

test('config_path: containerd 2.x defaults to certs.d; 1.x needs it set, in the table of its config version', () => {
  assert.equal(readContainerdRegistryConfig(undefined, 'c', 2).configPath, '/etc/containerd/certs.d');
  assert.equal(readContainerdRegistryConfig(undefined, 'c', 1).configPath, undefined);
  const v2 = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10"\n';
  const edited = enableConfigPath(v2, 'config.toml', 1);
  assert.equal(edited.changed, true);
  assert.ok(edited.text.startsWith(v2));
  assert.equal(readContainerdRegistryConfig(edited.text, 'c', 1).configPath, '/etc/containerd/certs.d');
  assert.equal(enableConfigPath(edited.text, 'config.toml', 1).changed, false);
  const v3 = 'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "/opt/certs.d:/etc/docker/certs.d"\n';
  assert.equal(readContainerdRegistryConfig(v3, 'c', 2).configPath, '/opt/certs.d');
});

test('legacy registry.mirrors and config_path cannot live together: refused with the way out', () => {
  const legacy = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://m"]\n';
  assert.throws(() => enableConfigPath(legacy, '/etc/containerd/config.toml', 1), /configures registry\.mirrors, which containerd does not allow together with config_path/);
});

test('mirror credentials become an Authorization header of that host only', () => {
  const auth = new Map([['https://harbor.site.local:5000', 'Basic cm9ib3Q6czNjcmV0']]);
  const { text } = mergeHostsToml(undefined, hub, 'hosts.toml', auth);
  const parsed = JSON.parse(JSON.stringify(parse(text))) as { host: Record<string, { header?: { authorization: string } }> };
  assert.deepEqual(parsed.host['https://harbor.site.local:5000']!.header, { authorization: 'Basic cm9ib3Q6czNjcmV0' });
  assert.equal(parsed.host['http://10.0.0.5:5000']!.header, undefined);
});
