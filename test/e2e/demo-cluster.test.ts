/**
 * `npm run demo -- --cluster`, as the README offers it once the test cluster is built: the demo bundle made
 * with Node alone, then the air-gapped half on this cluster (the demo finds it running and leaves it so):
 * install, an image removed by hand from the containerd node and a hard reset, `check --repair` naming the
 * reboot and the loss and streaming back only that. Without a terminal (CI=1), so with --yes and plain lines.
 *
 * e2e-nodes: containerd
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connect, ssh, type TestCluster } from './helpers/cluster.js';
import { freePort } from '../support/registry.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run demo -- --cluster', () => {
  let c: TestCluster;
  let work: string;

  before(async () => {
    c = await connect();
    work = await mkdtemp(join(tmpdir(), 'lading-e2e-demo-'));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('creates the demo bundle, installs it, survives a hard reset with one image lost, and repairs just that', async () => {
    const output = join(work, 'demo.lading.tar');
    const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1', LADING_CACHE_DIR: join(work, 'cache'), LADING_DEMO_DIR: join(work, 'state'), LADING_DEMO_PORT: String(await freePort()) };
    const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('npm', ['run', 'demo', '--', '--cluster', '--output', output], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
      const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /demo: bash test\/cluster\/up {2}\(the running cluster\)/);
    assert.match(result.out, /demo: an accident on node containerd: (\S+) removed by hand/);
    const victim = /demo: an accident on node containerd: (\S+) removed by hand/.exec(result.out)![1]!;
    assert.match(result.out, new RegExp(`REBOOTED since the install of \\S+ .*; \\d+ survived; 1 lost: ${victim.replace(/[.]/g, '\\.')}`));
    assert.match(result.out, /demo: done in [\d.]+ s: .* installed, and repaired after a node reset/);
    // The node's own listing: the lost image is back under its name.
    const listed = (await ssh(c, 'containerd', ['ctr', '-n', 'k8s.io', 'images', 'ls', '-q'])).stdout.split('\n');
    assert.ok(listed.includes(victim), listed.join('\n'));
  });
});
