import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerdConfigPath, containerdSettings, crioConfigPaths, crioSettings } from './runtime-config.js';

describe('containerd\'s config', () => {
  it('its path from its command line, else the distribution\'s default', () => {
    assert.deepEqual(containerdConfigPath(['/usr/bin/containerd', '--config', '/opt/c.toml'], 'kubernetes'), { path: '/opt/c.toml', source: 'containerd\'s command line' });
    assert.deepEqual(containerdConfigPath(['/usr/bin/containerd', '-c', '/opt/d.toml'], 'kubernetes').path, '/opt/d.toml');
    assert.deepEqual(containerdConfigPath(undefined, 'k3s').path, '/var/lib/rancher/k3s/agent/etc/containerd/config.toml');
    assert.deepEqual(containerdConfigPath(['containerd'], 'kubernetes').path, '/etc/containerd/config.toml');
  });

  it('reads discard_unpacked_layers, the sandbox image, root and socket in 1.x and 2.x layouts', () => {
    assert.deepEqual(containerdSettings(`version = 2\nroot = "/data/containerd"\n[grpc]\naddress = "/run/c.sock"\n[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "registry.k8s.io/pause:3.9"\n[plugins."io.containerd.grpc.v1.cri".containerd]\ndiscard_unpacked_layers = true\n`), {
      root: '/data/containerd',
      socket: '/run/c.sock',
      sandboxImage: 'registry.k8s.io/pause:3.9',
      discardUnpackedLayers: true,
    });
    assert.deepEqual(containerdSettings(`version = 3\n[plugins.'io.containerd.cri.v1.images']\ndiscard_unpacked_layers = false\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\nsandbox = 'registry.k8s.io/pause:3.10'\n`), {
      sandboxImage: 'registry.k8s.io/pause:3.10',
      discardUnpackedLayers: false,
    });
    assert.deepEqual(containerdSettings(undefined), {});
    assert.deepEqual(containerdSettings('[[[ not toml'), { unreadable: true });
  });
});

describe('CRI-O\'s config', () => {
  it('paths from its command line, else /etc/crio', () => {
    assert.deepEqual(crioConfigPaths(['crio', '--config=/opt/crio.conf', '-d', '/opt/crio.d']), { file: '/opt/crio.conf', dir: '/opt/crio.d' });
    assert.deepEqual(crioConfigPaths(undefined), { file: '/etc/crio/crio.conf', dir: '/etc/crio/crio.conf.d' });
  });

  it('later drop-ins override earlier files; each trap-relevant setting names its file', () => {
    const settings = crioSettings([
      { path: '/etc/crio/crio.conf', text: '[crio]\ninternal_repair = true\nstorage_driver = "overlay"\n[crio.image]\npause_image = "registry.k8s.io/pause:3.10"\n' },
      { path: '/etc/crio/crio.conf.d/10-bad.conf', text: 'not = = toml' },
      { path: '/etc/crio/crio.conf.d/20-site.conf', text: '[crio]\ninternal_repair = false\nstorage_option = ["overlay.mountopt=nodev"]\n' },
    ]);
    assert.deepEqual(settings, {
      unreadable: ['/etc/crio/crio.conf.d/10-bad.conf'],
      internalRepair: false,
      pauseImage: 'registry.k8s.io/pause:3.10',
      storageDriver: 'overlay',
      storageOptions: ['overlay.mountopt=nodev'],
      sources: { internalRepair: '/etc/crio/crio.conf.d/20-site.conf', pauseImage: '/etc/crio/crio.conf', storageOptions: '/etc/crio/crio.conf.d/20-site.conf' },
    });
  });
});
