/**
 * `npm run demo`, the README's first command, as a new user without a terminal
 * (CI=1: plain lines) would run it, with a PATH that holds none of the tools the
 * tests use (docker-registry, skopeo, umoci, containerd, ...): it must build,
 * serve, create, inspect and verify with Node alone, and end with exit 0.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyBundle } from '../../src/core/bundle/verify.js';
import { freePort } from '../support/registry.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What the tests install and the demo must not need. */
const TEST_TOOLS = new Set(['docker-registry', 'skopeo', 'umoci', 'htpasswd', 'openssl', 'podman', 'containerd', 'ctr', 'runc', 'go']);

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-demo-it-'));
});

after(() => rm(work, { recursive: true, force: true }));

/** A bin directory with every program of the base system's PATH but the test tools. */
async function baseSystemPath(): Promise<string> {
  const bin = join(work, 'bin');
  await mkdir(bin);
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (TEST_TOOLS.has(name) || existsSync(join(bin, name))) continue;
      await symlink(join(dir, name), join(bin, name));
    }
  }
  return bin;
}

test('the demo code starts no registry of Debian and no test tool', async () => {
  const files = [join(REPO, 'scripts', 'demo.ts'), ...(await readdir(join(REPO, 'fixtures', 'demo'))).filter((f) => f.endsWith('.ts')).map((f) => join(REPO, 'fixtures', 'demo', f))];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    assert.doesNotMatch(text, /docker-registry|startRegistry|support\/registry|spawn\([^)]*(skopeo|umoci)/, file);
  }
});

test('npm run demo: seed bundle, lading serve, create, inspect, verify; exit 0 with only Node on PATH', async (t) => {
  const bin = await baseSystemPath();
  const output = join(work, 'demo.lading.tar');
  const env: NodeJS.ProcessEnv = {
    HOME: process.env.HOME,
    PATH: bin,
    CI: '1',
    NO_COLOR: '1',
    LADING_CACHE_DIR: join(work, 'cache'),
    LADING_DEMO_DIR: join(work, 'state'),
    LADING_DEMO_PORT: String(await freePort()),
    ...(process.env.XDG_CACHE_HOME ? { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } : {}),
    ...(process.env.LADING_FIXTURE_CACHE ? { LADING_FIXTURE_CACHE: process.env.LADING_FIXTURE_CACHE } : {}),
  };
  const started = performance.now();
  const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn('npm', ['run', 'demo', '--', '--output', output], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  const took = (performance.now() - started) / 1000;
  assert.equal(result.code, 0, result.out);
  assert.match(result.out, /demo: serving 4 images on http:\/\/127\.0\.0\.1:\d+/);
  // The create summary keeps one line per image: reference, digest, platforms, size.
  for (const image of ['demo/base:1.0', 'demo/web:1.0', 'demo/tools:2.1', 'demo/pause:3.10']) {
    assert.match(result.out, new RegExp(`^  127\\.0\\.0\\.1:\\d+/${image.replace('.', '\\.')}\\s+sha256:[0-9a-f]{64}  linux/amd64\\S*.*\\d+(\\.\\d)? (B|KiB|MiB)$`, 'm'), image);
  }
  assert.match(result.out, /^OK {2}.*demo\.lading\.tar: 4 images, \d+ blobs/m);
  assert.match(result.out, /demo: done in [\d.]+ s/);
  assert.equal((await verifyBundle(output)).ok, true);
  // The server was stopped: nothing listens on the demo port any more.
  await assert.rejects(fetch(`http://127.0.0.1:${env.LADING_DEMO_PORT}/v2/`));
  t.diagnostic(`demo took ${took.toFixed(1)} s`);
});
