/**
 * The single executable (dist/lading-linux-<arch>, scripts/sea.mjs) as an operator runs it on a machine
 * without Node: from a temp directory, with a PATH that holds only a `lading` symlink to it. It pulls
 * the demo's images from `lading serve` (bin/lading, on the test's Node), then inspects and verifies.
 *
 * `npm test` builds only dist/lading.mjs, so the executable is rebuilt here (`node scripts/sea.mjs
 * <arch>`) when it is missing or older than lading.mjs or the SEA scripts: about 15 s with this
 * machine's Node 24 binary cached in ~/.cache/lading/node, plus its download from the npm registry
 * the first time.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verifyBundle } from '../../src/core/bundle/verify.js';
import { ensureSeedBundle } from '../../fixtures/demo/seed.js';
import { demoSpecFor } from '../../fixtures/demo/spec.js';
import { serve, type Serving } from '../support/serve.js';
import { findTool } from '../support/tools.js';
import { EXECUTABLE, distNodeFlags, ensureExecutable } from '../support/executable.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let work: string;
let bin: string;
let server: Serving | undefined;
let buildNote: string;

/** Runs the executable through the `lading` symlink, with nothing else on PATH and no Node variables. */
function runExecutable(args: string[], extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { PATH: bin, HOME: join(work, 'home'), LADING_CACHE_DIR: join(work, 'cache'), CI: '1', NO_COLOR: '1', ...extraEnv };
    const child = spawn(join(bin, 'lading'), args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  assert.ok(process.arch === 'x64' || process.arch === 'arm64', `no single executable for ${process.arch}`);
  work = await mkdtemp(join(tmpdir(), 'lading-executable-it-'));
  bin = join(work, 'bin');
  await mkdir(bin);
  await mkdir(join(work, 'home'));
  await symlink(EXECUTABLE, join(bin, 'lading'));
  buildNote = await ensureExecutable();
});

after(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

test('the executable is built for this machine and its PATH holds no node or npm', async (t) => {
  t.diagnostic(`${EXECUTABLE}: ${buildNote}`);
  for (const tool of ['node', 'nodejs', 'npm', 'npx']) assert.equal(findTool(tool, bin), undefined, tool);
  const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
  const version = await runExecutable(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), pkg.version);
  assert.equal(version.stderr, '', 'no warning (e.g. the experimental SEA one) on stderr');
});

test("V8 inside the executable is sized by the flags of lading.mjs's #! line, as node with them", async () => {
  // Preloaded through NODE_OPTIONS (which the executable honours, as node does). V8 sizes its heap once, at
  // start: heap_size_limit is the old generation plus three semi-spaces, so the same limit as node started
  // with the flags (on the same machine, so the same old generation) proves they reached V8 in time.
  // Sampling the new space as it grows is not a proof: V8 itself lets it pass the limit for a moment now and
  // then (13 MiB in 1 of 30 runs of node --max-semi-space-size=2 here).
  const flags = distNodeFlags();
  assert.ok(flags.includes('--max-semi-space-size=2'), `the small young generation is asked for: ${flags.join(' ')}`);
  const probe = join(work, 'heap-limit-probe.cjs');
  await writeFile(
    probe,
    `process.stderr.write('PROBE ' + JSON.stringify({ execArgv: process.execArgv, heapSizeLimit: require('node:v8').getHeapStatistics().heap_size_limit }) + '\\n');`,
  );
  const parse = (stderr: string) => JSON.parse(/^PROBE (.*)$/m.exec(stderr)?.[1] ?? 'null') as { execArgv: string[]; heapSizeLimit: number };
  const inside = await runExecutable(['--version'], { NODE_OPTIONS: `--require ${probe}` });
  assert.equal(inside.code, 0, inside.stderr);
  const sea = parse(inside.stderr);
  assert.deepEqual(sea.execArgv, flags);
  const flagged = parse((await run(process.execPath, [...flags, '--require', probe, '-e', '0'])).stderr);
  assert.equal(sea.heapSizeLimit, flagged.heapSizeLimit, `V8 inside the executable is sized as node ${flags.join(' ')}`);
  // The control: without the flags V8 reserves larger semi-spaces, so the limit differs.
  const plain = parse((await run(process.execPath, ['--require', probe, '-e', '0'])).stderr);
  assert.ok(plain.heapSizeLimit > flagged.heapSizeLimit, `a default node is not sized differently (${plain.heapSizeLimit} bytes)`);
});

test("the executable keeps Node's compile cache under ~/.cache/lading, and runs without it where none can be made", async () => {
  const xdg = join(work, 'xdg');
  const cached = await runExecutable(['--version'], { XDG_CACHE_HOME: xdg });
  assert.equal(cached.code, 0, cached.stderr);
  const kept = await readdir(join(xdg, 'lading', 'compile-cache'));
  assert.equal(kept.length, 1, `one cache of this build: ${kept.join(', ')}`);
  assert.ok((await readdir(join(xdg, 'lading', 'compile-cache', kept[0]!))).length > 0, 'the cache holds compiled code');

  const off = join(work, 'xdg-off');
  const disabled = await runExecutable(['--version'], { XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' });
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(existsSync(off), false, 'NODE_DISABLE_COMPILE_CACHE=1: nothing written');

  // /proc refuses a new directory with ENOENT, where Node's recursive mkdir loops forever at full CPU.
  for (const place of ['/proc/lading-no-such-dir', join(work, 'home', '.profile-is-a-file')]) {
    if (!place.startsWith('/proc')) await writeFile(place, '');
    const refused = await runExecutable(['--version'], { XDG_CACHE_HOME: place }, 20_000);
    assert.equal(refused.code, 0, `XDG_CACHE_HOME=${place}: ${refused.stderr || 'killed after 20 s'}`);
    assert.equal(refused.stdout.trim(), JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')).version);
  }
});

test('create from lading serve, inspect and verify, with the executable alone', async (t) => {
  const seed = await ensureSeedBundle(join(work, 'seed'));
  server = await serve([seed.path]);
  const spec = demoSpecFor(server.host, work);
  const output = join(work, 'demo.lading.tar');

  const started = performance.now();
  const created = await runExecutable(['create', spec, '-o', output]);
  assert.equal(created.code, 0, created.stdout + created.stderr);
  t.diagnostic(`create took ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const inspected = await runExecutable(['inspect', output, '--json']);
  assert.equal(inspected.code, 0, inspected.stderr);
  const images = (JSON.parse(inspected.stdout) as { images: Array<{ name: string; digest: string }> }).images;
  for (const image of seed.images) {
    const found = images.find((i) => i.name === `${server!.host}/${image.repository}:${image.tag}`);
    assert.equal(found?.digest, image.digest, `${image.repository}:${image.tag} in ${inspected.stdout}`);
  }

  const verified = await runExecutable(['verify', output]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /^OK /m);
  assert.equal((await verifyBundle(output)).ok, true, 'the bundle passes the project verifier too');
});
