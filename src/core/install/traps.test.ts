import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerdHonoursPins, runtimeTraps, versionOf, type TrapInput } from './traps.js';

const base = (over: Partial<TrapInput> = {}): TrapInput => ({ runtime: 'containerd', runtimeVersion: 'containerd://2.2.9', config: { kubelet: {}, looked: [] }, keepFreePercent: 15, ...over });
const messages = (input: TrapInput) => runtimeTraps(input).map((w) => w.message);

describe('runtime traps', () => {
  it('a default node has none', () => {
    assert.deepEqual(runtimeTraps(base({ config: { kubelet: {}, looked: [], containerd: { configPath: '/etc/containerd/config.toml', configSource: 'x', found: true, settings: { discardUnpackedLayers: false } } } })), []);
  });

  it('kubelet GC thresholds that leave less room than --keep-free assumes', () => {
    const input = base({ config: { kubelet: { gcHighPercent: { value: 70, source: '/var/lib/kubelet/config.yaml' } }, looked: [] } });
    const [warning] = runtimeTraps(input);
    assert.match(warning!.message, /^the kubelet deletes unused images once the image filesystem is 70 % full \(imageGCHighThresholdPercent, \/var\/lib\/kubelet\/config\.yaml\), but --keep-free 15 lets it fill to 85 %/);
    assert.equal(warning!.hint, 'Pass --keep-free 30 (lading pins its own images; the kubelet may still delete others).');
    assert.deepEqual(runtimeTraps({ ...input, keepFreePercent: 30 }), []);
    assert.deepEqual(messages(base({ config: { kubelet: { gcHighPercent: { value: 100, source: 'x' } }, looked: [] } })), [], '100 turns image GC off');
  });

  it('containerd: discard_unpacked_layers, and versions that ignore the pin label', () => {
    const discard = base({ config: { kubelet: {}, looked: [], containerd: { configPath: '/etc/containerd/config.toml', configSource: 'x', found: true, settings: { discardUnpackedLayers: true } } } });
    assert.match(messages(discard)[0]!, /discard_unpacked_layers = true in \/etc\/containerd\/config\.toml/);
    assert.match(runtimeTraps(discard)[0]!.hint!, /Set discard_unpacked_layers = false in \/etc\/containerd\/config\.toml/);
    assert.match(messages(base({ runtimeVersion: 'containerd://1.6.20' }))[0]!, /^containerd 1\.6\.20 does not read the io\.cri-containerd\.pinned label/);
    assert.deepEqual([[1, 6, 21], [1, 6, 22], [1, 7, 2], [1, 7, 3], [1, 5, 9], [2, 0, 0]].map(containerdHonoursPins), [false, true, false, true, false, true]);
    assert.deepEqual(versionOf('cri-o://1.34.0'), [1, 34, 0]);
  });

  it('CRI-O before containers/storage 1.64, internal_repair on, the sandbox image only in an additional store', () => {
    const trap = (version: string, internalRepair: boolean | undefined, sandbox: TrapInput['sandbox']) =>
      messages({
        runtime: 'cri-o',
        runtimeVersion: `cri-o://${version}`,
        keepFreePercent: 15,
        sandbox,
        config: { kubelet: {}, looked: [], crio: { files: [], settings: { unreadable: [], ...(internalRepair === undefined ? {} : { internalRepair }), sources: internalRepair === undefined ? {} : { internalRepair: '/etc/crio/crio.conf' } } } },
      });
    const onlyAdditional = { image: 'registry.k8s.io/pause:3.10', inDefaultStore: false, inAdditionalStore: true };
    assert.match(trap('1.34.0', undefined, onlyAdditional)[0]!, /^CRI-O 1\.34\.0 vendors containers\/storage older than v1\.64.*sandbox image registry\.k8s\.io\/pause:3\.10 is only in an additional store.*internal_repair = true \(the default\).*wiping all of it$/);
    assert.match(trap('1.36.3', true, onlyAdditional)[0]!, /internal_repair = true \(\/etc\/crio\/crio\.conf\)/);
    assert.deepEqual(trap('1.34.0', false, onlyAdditional), [], 'internal_repair = false avoids it');
    assert.deepEqual(trap('1.34.0', undefined, { ...onlyAdditional, inDefaultStore: true }), [], 'the pause image also in the default store avoids it');
    assert.deepEqual(trap('1.37.0', undefined, onlyAdditional), [], 'newer containers/storage');
  });

  it('CRI-O: storage_option in crio.conf hides the additional store', () => {
    const [message] = messages({
      runtime: 'cri-o',
      runtimeVersion: 'cri-o://1.35.2',
      keepFreePercent: 15,
      config: { kubelet: {}, looked: [], crio: { files: [], settings: { unreadable: [], storageOptions: ['overlay.mountopt=nodev'], sources: { storageOptions: '/etc/crio/crio.conf.d/10.conf' } } } },
    });
    assert.match(message!, /^storage_option in \/etc\/crio\/crio\.conf\.d\/10\.conf replaces storage\.conf's options/);
  });
});
