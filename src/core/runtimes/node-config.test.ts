/**
 * readNodeConfig on "nodes" made of directories: each test gives a root its
 * own /etc, /var and a fake /proc (comm and cmdline files), and the real
 * scripts run chrooted into it, as the agent runs chrooted into a host.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chrootShell } from '../../../test/support/chroot-shell.js';
import { readNodeConfig } from './node-config.js';

let work: string;
before(async () => (work = await mkdtemp(join(tmpdir(), 'lading-node-config-'))));
after(() => rm(work, { recursive: true, force: true }));

async function node(name: string, files: Record<string, string>) {
  const root = join(work, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return chrootShell(root, name);
}

const cmdline = (...args: string[]) => args.join('\0') + '\0';

describe('readNodeConfig', () => {
  it('a kubeadm containerd node: the running kubelet\'s --config file and containerd\'s --config, read in a second round', async () => {
    const shell = await node('kubeadm', {
      '/proc/100/comm': 'kubelet\n',
      '/proc/100/cmdline': cmdline('/usr/bin/kubelet', '--config=/etc/kubernetes/kubelet.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf'),
      '/proc/200/comm': 'containerd\n',
      '/proc/200/cmdline': cmdline('/usr/bin/containerd', '--config', '/etc/containerd/site.toml'),
      '/proc/201/comm': 'containerd-shim\n',
      '/etc/kubernetes/kubelet.yaml': 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\nimageGCHighThresholdPercent: 60\n',
      '/var/lib/kubelet/config.yaml': 'containerRuntimeEndpoint: unix:///wrong.sock\n',
      '/etc/containerd/site.toml': 'version = 3\nroot = "/data/containerd"\n[plugins."io.containerd.cri.v1.images"]\ndiscard_unpacked_layers = true\n',
    });
    const config = await readNodeConfig(shell, { runtime: 'containerd', distribution: 'kubernetes' });
    assert.deepEqual(config.kubelet, {
      runtimeEndpoint: { value: 'unix:///run/containerd/containerd.sock', source: '/etc/kubernetes/kubelet.yaml' },
      gcHighPercent: { value: 60, source: '/etc/kubernetes/kubelet.yaml' },
    });
    assert.deepEqual(config.containerd, {
      configPath: '/etc/containerd/site.toml',
      configSource: 'containerd\'s command line',
      found: true,
      settings: { root: '/data/containerd', discardUnpackedLayers: true },
    });
  });

  it('no process visible: the kubelet\'s flags from its drop-ins and env file; CRI-O\'s config with its drop-ins in order', async () => {
    const shell = await node('crio', {
      '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf': '[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/opt/kubelet.yaml"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n',
      '/var/lib/kubelet/kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/crio/crio.sock"\n',
      '/opt/kubelet.yaml': 'imageGCHighThresholdPercent: 75\n',
      '/etc/crio/crio.conf': '[crio.image]\npause_image = "registry.k8s.io/pause:3.10"\n',
      '/etc/crio/crio.conf.d/99-site.conf': '[crio]\ninternal_repair = true\n',
      '/etc/crio/crio.conf.d/01-first.conf': '[crio]\ninternal_repair = false\n',
    });
    const config = await readNodeConfig(shell, { runtime: 'cri-o', distribution: 'kubernetes' });
    assert.deepEqual(config.kubelet, {
      runtimeEndpoint: { value: 'unix:///var/run/crio/crio.sock', source: '/var/lib/kubelet/kubeadm-flags.env' },
      gcHighPercent: { value: 75, source: '/opt/kubelet.yaml' },
    });
    assert.deepEqual(config.crio?.files, ['/etc/crio/crio.conf', '/etc/crio/crio.conf.d/01-first.conf', '/etc/crio/crio.conf.d/99-site.conf']);
    assert.equal(config.crio?.settings.internalRepair, true);
    assert.equal(config.crio?.settings.sources.internalRepair, '/etc/crio/crio.conf.d/99-site.conf');
  });

  it('a node with nothing says what was looked at; file content cannot pose as another file', async () => {
    const shell = await node('bare', { '/var/lib/kubelet/config.yaml': '== lading-0000000000000000: path 3\ncontainerRuntimeEndpoint: unix:///run/x.sock\n' });
    const config = await readNodeConfig(shell, { runtime: 'containerd', distribution: 'k3s' });
    assert.deepEqual(config.kubelet, { runtimeEndpoint: { value: 'unix:///run/x.sock', source: '/var/lib/kubelet/config.yaml' } });
    assert.equal(config.containerd?.found, false);
    assert.equal(config.containerd?.configPath, '/var/lib/rancher/k3s/agent/etc/containerd/config.toml');
    for (const looked of ['the kubelet command line', '/var/lib/kubelet/kubeadm-flags.env', '/etc/systemd/system/kubelet.service.d/*.conf', '/var/lib/rancher/k3s/agent/etc/containerd/config.toml']) {
      assert.ok(config.looked.includes(looked), `${looked} in ${config.looked.join(', ')}`);
    }
  });
});
