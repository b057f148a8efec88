import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InstallReport, NodeReport } from '../core/install/report.js';
import { planLines, reportLines, restoreLines } from './install-lines.js';
import { planNode } from '../core/install/plan.js';
import { bundleImage, digestOf, nodeFacts } from '../core/install/test-fixtures.js';

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
      '  pod without pulling          ✔ no pull    ✖ failed         ✖ not done',
      '',
      'Problems:',
      `  ✖ node-b: example.com/app:1.0 wrong-digest (node has sha256:${'b'.repeat(64)})`,
      '  ✖ node-b: pods from example.com/app:1.0: by name: ErrImageNeverPull',
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
      '  pod without pulling   ✔ no pull            ✔ no pull',
    ]);
  });

  it('a check: pinned or not per node and image, warnings with their next step, and what happened since the install', () => {
    const lines = reportLines(
      {
        ok: false,
        bundle: 'b.tar',
        cluster: { server: 's', version: 'v' },
        nodes: [
          node('cd', {
            images: [
              { name: 'x:1', digest, outcome: 'present', pinned: true, pinnedBy: 'lading' },
              { name: 'y:1', digest, outcome: 'present', pinned: false },
            ],
            warnings: [{ message: 'containerd discards \u001b[31mlayers', hint: 'Set discard_unpacked_layers = false.' }],
            sinceInstall: { installedAt: '2026-12-01T10:00:00.000Z', rebooted: false, bootIdThen: 'b1', bootIdNow: 'b1', survived: ['x:1', 'y:1'], lost: [], unpinned: ['y:1'] },
          }),
          node('crio', {
            runtime: 'cri-o://1.34.0',
            images: [
              { name: 'x:1', digest, outcome: 'present', pinned: true, pinnedBy: 'read-only store' },
              { name: 'y:1', digest, outcome: 'missing' },
            ],
            sinceInstall: { installedAt: '2026-12-01T10:00:00.000Z', rebooted: true, bootIdThen: 'b1', bootIdNow: 'b2', survived: ['x:1'], lost: ['y:1'], unpinned: [] },
          }),
          node('new', { images: [{ name: 'x:1', digest, outcome: 'missing' }] }),
        ],
      },
      { check: true },
    );
    assert.deepEqual(lines.slice(2), [
      '  IMAGE   cd                      crio                                  new',
      '  x:1     ✔ present, pinned       ✔ present, pinned (read-only store)   ✖ missing',
      '  y:1     ✔ present, NOT pinned   ✖ missing                             - (other platform)',
      '',
      'Problems:',
      '  ✖ crio: y:1 missing',
      '  ✖ new: x:1 missing',
      '',
      'Warnings:',
      '  ! cd: containerd discards \\e[31mlayers\n      Next: Set discard_unpacked_layers = false.',
      "  ! cd: y:1 is not pinned: the kubelet's image GC may delete it once the image filesystem passes its high threshold, and an air-gapped node cannot pull it back (lading install pins it)",
      '',
      'Since install:',
      '  cd: not rebooted since the install of 2026-12-01T10:00:00.000Z; 2 survived; 1 not pinned: y:1',
      '  crio: REBOOTED since the install of 2026-12-01T10:00:00.000Z (boot id b1 -> b2); 1 survived; 1 lost: y:1',
      '  new: no install of this bundle recorded (installed by an older lading, by hand, or not at all)',
    ]);
  });

  it('a node that took the slower way in (exec, though pods/proxy was asked for) is a warning with the reason; --transport exec is not', () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    const lines = reportLines({
      ok: true,
      bundle: 'b.tar',
      cluster: { server: 'https://api', version: 'v1.34.4' },
      nodes: [
        node('a', { images: [{ name: 'x:1', digest, outcome: 'injected', pinned: true, pinnedBy: 'lading' }], transport: { transport: 'exec', reason: 'the receiver: the API server did not reach it through pods/proxy within 10 s (HTTP 503)' } }),
        node('b', { images: [{ name: 'x:1', digest, outcome: 'injected', pinned: true, pinnedBy: 'lading' }], transport: { transport: 'exec', reason: '--transport exec' } }),
        node('c', { images: [{ name: 'x:1', digest, outcome: 'injected', pinned: true, pinnedBy: 'lading' }], transport: { transport: 'pods/proxy' } }),
      ],
    });
    assert.deepEqual(
      lines.filter((l) => l.startsWith('  ! ')),
      [
        "  ! a: images streamed through exec, the slower way in, because the receiver: the API server did not reach it through pods/proxy within 10 s (HTTP 503)\n      Next: allow the API server to reach pods in lading's namespace (pods/proxy, TCP 7070), or pass --transport exec to skip trying",
      ],
    );
  });

  it('an install says how the kubelet proved each image; --restore says what it put back and unpinned', () => {
    const lines = reportLines({
      ok: true,
      bundle: 'b.tar',
      cluster: { server: 's', version: 'v' },
      nodes: [
        node('n', {
          images: [{ name: 'data:1', digest, outcome: 'injected', pinned: true, pinnedBy: 'lading', proof: { byName: 'kubelet event "already present on machine"', byDigest: 'container ran (exited 0, Completed)' } }],
          smoke: { image: 'data:1', ok: true, detail: '' },
        }),
      ],
    });
    assert.deepEqual(lines.slice(-2), ['Proof (the kubelet\'s own signal that it found each image on the node, whatever the image then does):', '  n  data:1  by name: kubelet event "already present on machine"; by digest: container ran (exited 0, Completed)']);
    assert.deepEqual(restoreLines([node('a', { changedFiles: ['/etc/x'], unpinned: ['x:1', 'x@sha256:1'] }), node('b', {}), node('c', { error: 'agent failed' })]), [
      'a: restored /etc/x; unpinned x:1, x@sha256:1',
      'b: nothing to restore',
      'c: ✖ agent failed',
    ]);
  });

  it('the plan says containerd images are pinned, and that a CRI-O node\'s sandbox image goes into the read-only store too', () => {
    const pause = bundleImage('registry.k8s.io/pause:3.10', digestOf('9'));
    const app = bundleImage('example.com/app:1', digestOf('a'));
    const lines = planLines([planNode(nodeFacts({ name: 'cd' }), [app]), planNode(nodeFacts({ name: 'crio', runtime: 'cri-o://1.34.0', images: [{ names: ['registry.k8s.io/pause:3.10'] }] }), [pause, app])]);
    assert.match(lines[1]!, /^ {2}cd {2}linux\/amd64 {2}containerd:\/\/2\.2\.9: inject 1 image \(up to .*\); into containerd, pinned against the kubelet's image GC; no runtime configuration is changed$/);
    assert.match(lines[2]!, /into the read-only additional image store \(the sandbox image too, so a wipe of the default store cannot stop every pod\)/);
  });
});

