import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bundleImage } from '../install/test-fixtures.js';
import { planPayload } from './payload.js';
import { injectorPod, injectorService, type InjectorPlan } from './bootstrap.js';

describe('the injector pod: PodSecurity restricted, the loader as its command, every payload ConfigMap mounted', () => {
  const image = bundleImage('lading.test/distribution/registry:3.1.2', 'a', ['linux/amd64'], 3 << 20);
  const injector = { size: 2 << 20, sha256: 'b'.repeat(64) };
  const payload = planPayload([image], 'linux/amd64', injector, { id: 'abc123' });
  const plan = { node: { name: 'n1', platform: 'linux/amd64' }, image: 'registry.k8s.io/pause:3.10', payload } as unknown as InjectorPlan;

  it('runs as nobody, no escalation, no capability, seccomp RuntimeDefault, read-only root, no host namespace or path', () => {
    const pod = injectorPod('lading', plan);
    const spec = pod.spec!;
    assert.deepEqual(spec.securityContext, { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    const c = spec.containers[0]!;
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    assert.equal(spec.hostNetwork, undefined);
    assert.equal(spec.hostPID, undefined);
    assert.ok(spec.volumes!.every((v) => v.configMap && !v.hostPath));
    assert.equal(c.image, 'registry.k8s.io/pause:3.10');
    assert.equal(c.imagePullPolicy, 'Never');
    assert.equal(spec.nodeName, 'n1');
  });

  it('the loader joins the injector\'s chunks in order, then the injector serves every payload directory', () => {
    const c = injectorPod('lading', plan).spec!.containers[0]!;
    const cmd = c.command!;
    assert.equal(cmd[0], '/lading/payload/lading-payload-abc123-loader/loader');
    const dashes = cmd.indexOf('--');
    assert.deepEqual(cmd.slice(1, dashes), payload.injector.chunks.map((k) => `/lading/payload/${k.configMap}/${k.key}`));
    assert.deepEqual(cmd.slice(dashes + 1, dashes + 4), ['injector', '-listen', ':5000']);
    assert.deepEqual(cmd.slice(dashes + 4), payload.configMaps.map((m) => `/lading/payload/${m.name}`));
    const mounts = new Map(c.volumeMounts!.map((m) => [m.mountPath, m.name]));
    for (const m of [...payload.configMaps.map((x) => x.name), 'lading-payload-abc123-loader']) assert.ok(mounts.has(`/lading/payload/${m}`), m);
    assert.ok(c.volumeMounts!.every((m) => m.readOnly && m.name.length <= 63));
  });

  it('its Service is a NodePort that stays on its node', () => {
    const svc = injectorService('lading', 'abc123');
    assert.equal(svc.spec!.type, 'NodePort');
    assert.equal(svc.spec!.externalTrafficPolicy, 'Local');
    assert.deepEqual(svc.spec!.selector, { 'lading.dev/payload': 'abc123', 'app.kubernetes.io/name': 'lading-injector' });
  });
});
