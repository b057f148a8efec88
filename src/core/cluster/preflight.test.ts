import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkPermissionList, describeNode, installPermissions } from './preflight.js';
import { nodeObject } from '../install/test-fixtures.js';

describe('preflight', () => {
  it('describes a node: platform, runtime, distribution, readiness, its images and boot id', () => {
    const facts = describeNode(nodeObject({ name: 'n1', arch: 'arm64', runtime: 'cri-o://1.34.0', bootID: 'b-42' }));
    assert.deepEqual(
      { name: facts.name, platform: facts.platform, runtime: facts.runtime, distribution: facts.distribution, ready: facts.ready, bootID: facts.bootID },
      { name: 'n1', platform: 'linux/arm64/v8', runtime: 'cri-o', distribution: 'kubernetes', ready: true, bootID: 'b-42' },
    );
    assert.equal(describeNode(nodeObject({ runtime: 'docker://25.0.1' })).runtime, 'unknown');
    const k3s = nodeObject();
    k3s.status!.nodeInfo!.kubeletVersion = 'v1.34.4+k3s1';
    assert.equal(describeNode(k3s).distribution, 'k3s');
  });

  it('install may write node records; check only reads them', () => {
    const verbs = (list: ReturnType<typeof installPermissions>) => list.filter((p) => p.resource === 'configmaps').map((p) => `${p.verb} ${p.namespace}`);
    assert.deepEqual(verbs(installPermissions('lading-system')), ['get lading-system', 'create lading-system', 'update lading-system']);
    assert.deepEqual(verbs(checkPermissionList('lading-system')), ['get lading-system']);
    assert.ok(checkPermissionList('x').some((p) => p.resource === 'pods' && p.subresource === 'exec'), 'check still runs agents');
  });
});
