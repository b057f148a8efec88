import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localhostNodePortProblem } from './kube-proxy.js';

describe('localhost NodePorts, from kube-proxy\'s configuration (kubeadm\'s ConfigMap)', () => {
  it('iptables mode (or the default, empty mode) serves them; nftables and ipvs do not; localhostNodePorts: false turns them off', () => {
    assert.equal(localhostNodePortProblem('apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n'), undefined);
    assert.equal(localhostNodePortProblem('kind: KubeProxyConfiguration\nmode: ""\n'), undefined, 'kubeadm writes an empty mode: iptables on Linux');
    assert.equal(localhostNodePortProblem('kind: KubeProxyConfiguration\n'), undefined);
    assert.equal(localhostNodePortProblem('mode: nftables\n'), 'kube-proxy runs in nftables mode, which serves no NodePort on 127.0.0.1');
    assert.equal(localhostNodePortProblem('mode: "ipvs"\n'), 'kube-proxy runs in ipvs mode, which serves no NodePort on 127.0.0.1');
    assert.equal(localhostNodePortProblem('mode: iptables\niptables:\n  masqueradeAll: false\n  localhostNodePorts: false\n'), 'kube-proxy has localhostNodePorts: false');
    assert.equal(localhostNodePortProblem('mode: iptables\niptables:\n  localhostNodePorts: true\nipvs:\n  localhostNodePorts: false\n'), undefined, 'only the iptables block counts');
  });
});
