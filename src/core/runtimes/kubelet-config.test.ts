import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flagsIn, flagValue, kubeletConfigPath, kubeletSettings, parseKubeletConfig, socketPath, splitArgs } from './kubelet-config.js';

const KUBEADM_DROP_IN = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

describe('the kubelet\'s flags, as the node gives them', () => {
  it('splits words with quotes, and keeps the last value of a flag', () => {
    assert.deepEqual(splitArgs(`--a=b "--c=d e" '--f' g`), ['--a=b', '--c=d e', '--f', 'g']);
    assert.equal(flagValue(['--config', '/a', '--config=/b'], 'config'), '/b');
    assert.equal(flagValue(['--config'], 'config'), undefined);
  });

  it('reads flags out of systemd drop-ins and environment files', () => {
    assert.deepEqual(flagsIn(KUBEADM_DROP_IN), ['--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf', '--kubeconfig=/etc/kubernetes/kubelet.conf', '--config=/var/lib/kubelet/config.yaml']);
    assert.deepEqual(flagsIn('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/crio/crio.sock --pod-infra-container-image=registry.k8s.io/pause:3.10"\n# --not=this\n'), [
      '--container-runtime-endpoint=unix:///var/run/crio/crio.sock',
      '--pod-infra-container-image=registry.k8s.io/pause:3.10',
    ]);
  });

  it('finds the config file from the command line first, then the files, then kubeadm\'s default', () => {
    assert.equal(kubeletConfigPath(['--config=/etc/k/c.yaml'], [{ path: 'x', text: KUBEADM_DROP_IN }]), '/etc/k/c.yaml');
    assert.equal(kubeletConfigPath(undefined, [{ path: 'x', text: 'Environment="KUBELET_CONFIG_ARGS=--config=/opt/kubelet.yaml"' }]), '/opt/kubelet.yaml');
    assert.equal(kubeletConfigPath(undefined, []), '/var/lib/kubelet/config.yaml');
  });
});

describe('kubeletSettings: flags over the config file, each setting naming its source', () => {
  const config = { path: '/var/lib/kubelet/config.yaml', text: 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\nimageGCHighThresholdPercent: 70\nimageGCLowThresholdPercent: 60\n' };

  it('from the config file', () => {
    assert.deepEqual(kubeletSettings({ sources: [], config }), {
      runtimeEndpoint: { value: 'unix:///run/containerd/containerd.sock', source: '/var/lib/kubelet/config.yaml' },
      gcHighPercent: { value: 70, source: '/var/lib/kubelet/config.yaml' },
      gcLowPercent: { value: 60, source: '/var/lib/kubelet/config.yaml' },
    });
  });

  it('flags in the kubeadm flags file win over it; the command line, when shown, is the truth', () => {
    const env = { path: '/var/lib/kubelet/kubeadm-flags.env', text: 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/crio/crio.sock"' };
    assert.deepEqual(kubeletSettings({ sources: [env], config }).runtimeEndpoint, { value: 'unix:///var/run/crio/crio.sock', source: '/var/lib/kubelet/kubeadm-flags.env' });
    const cmdline = ['--config=/var/lib/kubelet/config.yaml', '--image-gc-high-threshold=50'];
    const settings = kubeletSettings({ cmdline, sources: [env], config });
    assert.deepEqual(settings.runtimeEndpoint, { value: 'unix:///run/containerd/containerd.sock', source: '/var/lib/kubelet/config.yaml' }, 'the running kubelet did not get the env file\'s flag');
    assert.deepEqual(settings.gcHighPercent, { value: 50, source: 'the kubelet\'s command line' });
  });

  it('a config file that is not YAML, or values of the wrong kind, give nothing', () => {
    assert.deepEqual(parseKubeletConfig(': : :\n\t- ['), {});
    assert.deepEqual(parseKubeletConfig('containerRuntimeEndpoint: 5\nimageGCHighThresholdPercent: 180\n'), {});
    assert.deepEqual(parseKubeletConfig('a: &x [1]\nb: *x\n'), {}, 'aliases are refused (no billion laughs)');
  });

  it('endpoints become socket paths only when they are unix sockets', () => {
    assert.equal(socketPath('unix:///run/containerd/containerd.sock'), '/run/containerd/containerd.sock');
    assert.equal(socketPath('/var/run/crio/crio.sock'), '/var/run/crio/crio.sock');
    assert.equal(socketPath('tcp://10.0.0.1:1234'), undefined);
    assert.equal(socketPath('unix:///run/../etc/shadow'), undefined);
  });
});
