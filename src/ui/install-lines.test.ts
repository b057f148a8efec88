import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InstallReport, NodeReport } from '../core/install/install-job.js';
import { reportLines } from './install-lines.js';

const digest = `sha256:${'a'.repeat(64)}`;
function node(name: string, overrides: Partial<NodeReport>): NodeReport {
  return { node: name, platform: 'linux/amd64', runtime: 'containerd://2.2.9', images: [], injectedBytes: 0, injectMs: 0, changedFiles: [], ...overrides };
}

describe('reportLines', () => {
  it('tables images by nodes, then names each problem and each file written', () => {
    const report: InstallReport = {
      ok: false,
      bundle: 'site.lading.tar',
      cluster: { server: 'https://10.0.0.1:6443', version: 'v1.34.4' },
      nodes: [
        node('node-a', {
          images: [
            { name: 'example.com/app:1.0', digest, outcome: 'injected' },
            { name: 'registry.k8s.io/pause:3.10', digest, outcome: 'present' },
          ],
          smoke: { image: 'example.com/app:1.0', ok: true, detail: 'started' },
          changedFiles: ['/etc/containerd/certs.d/docker.io/hosts.toml'],
        }),
        node('node-b', {
          images: [
            { name: 'example.com/app:1.0', digest, outcome: 'wrong-digest', detail: `node has sha256:${'b'.repeat(64)}` },
            { name: 'registry.k8s.io/pause:3.10', digest, outcome: 'present' },
          ],
          smoke: { image: 'example.com/app:1.0', ok: false, detail: 'by name: ErrImageNeverPull' },
        }),
        node('node-c', { error: 'agent pod lading-agent-x did not start (ErrImageNeverPull)', hint: 'Pass --agent-image with an image the node has.' }),
      ],
    };
    assert.deepEqual(reportLines(report), [
      '✖ FAILED  https://10.0.0.1:6443 (v1.34.4)',
      '',
      '  IMAGE                        node-a       node-b           node-c',
      '  example.com/app:1.0          ✔ injected   ✖ wrong-digest   ✖ not done',
      '  registry.k8s.io/pause:3.10   ✔ present    ✔ present        ✖ not done',
      '  pod without pulling          ✔ started    ✖ failed         ✖ not done',
      '',
      'Problems:',
      `  ✖ node-b: example.com/app:1.0 wrong-digest (node has sha256:${'b'.repeat(64)})`,
      '  ✖ node-b: pod from example.com/app:1.0: by name: ErrImageNeverPull',
      '  ✖ node-c: agent pod lading-agent-x did not start (ErrImageNeverPull)\n      Next: Pass --agent-image with an image the node has.',
      '',
      'Files written (originals backed up on the node; lading install --restore puts them back):',
      '  node-a: /etc/containerd/certs.d/docker.io/hosts.toml',
    ]);
  });

  it('marks images of another platform as such', () => {
    const lines = reportLines({
      ok: true,
      bundle: 'b.tar',
      cluster: { server: 's', version: 'v' },
      nodes: [
        node('amd', { images: [{ name: 'x:1', digest, outcome: 'injected' }], smoke: { image: 'x:1', ok: true, detail: '' } }),
        node('arm', { platform: 'linux/arm64', images: [{ name: 'y:1', digest, outcome: 'present' }], smoke: { image: 'y:1', ok: true, detail: '' } }),
      ],
    });
    assert.deepEqual(lines.slice(2), [
      '  IMAGE                 amd                  arm',
      '  x:1                   ✔ injected           - (other platform)',
      '  y:1                   - (other platform)   ✔ present',
      '  pod without pulling   ✔ started            ✔ started',
    ]);
  });
});
