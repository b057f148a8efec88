/**
 * The corpus of lying bundles (test/support/hostile-bundle-cases.ts) run
 * through the real CLI: each gets its documented exit code and one line naming
 * the culprit, in bounded time and memory, with no escape sequence reaching
 * the terminal, no stack trace, and nothing written outside the test's
 * directory. Structural lies are refused by every command that reads a
 * bundle; install and check refuse before the cluster is contacted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { AbortError } from '../../src/core/errors.js';
import { inspectBundle } from '../../src/core/bundle/inspect.js';
import { goodBundle, writeBundle } from '../support/hostile-bundle.js';
import { HOSTILE_BUNDLES } from '../support/hostile-bundle-cases.js';
import { LADING_BIN, runLading } from '../support/lading.js';
import { requireTool } from '../support/tools.js';

let work: string;
let gnuTime: string;
/** An API server address nobody listens on: a command that reaches the cluster fails with 8, not 6 or 7. */
let kubeconfig: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-hostile-'));
  gnuTime = requireTool('time', 'apt-get install time (or bash scripts/install-test-deps)');
  kubeconfig = join(work, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'x' } }],
      contexts: [{ name: 'only', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'only',
    }),
  );
});

after(() => rm(work, { recursive: true, force: true }));

interface Measured {
  code: number | null;
  output: string;
  maxRssMiB: number;
  ms: number;
}

/** The CLI under GNU time: exit code, everything printed, peak RSS. */
async function measured(args: string[]): Promise<Measured> {
  const started = Date.now();
  const rssFile = join(work, `rss-${++runs}`);
  const result = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    execFile(gnuTime, ['-f', '%M', '-o', rssFile, LADING_BIN, ...args], { env: { ...process.env, CI: '1', NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, output: `${stdout}${stderr}` });
    });
  });
  const rssKiB = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
  return { ...result, maxRssMiB: rssKiB / 1024, ms: Date.now() - started };
}
let runs = 0;

function assertRefusal(result: Measured, code: number, culprit: RegExp, what: string): void {
  assert.equal(result.code, code, `${what}: exit ${result.code}, wanted ${code}\n${result.output}`);
  assert.match(result.output, culprit, `${what}: the culprit is not named`);
  assert.doesNotMatch(result.output, /\u001b|\u0007/, `${what}: a raw escape sequence reached the terminal`);
  assert.doesNotMatch(result.output, /\n\s+at .+:\d+:\d+\)?\n|This is a bug in lading/, `${what}: a stack trace or the bug banner`);
  assert.ok(result.ms < 20_000, `${what}: took ${result.ms} ms`);
  assert.ok(result.maxRssMiB < 300, `${what}: peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
}

test('the unaltered corpus bundle verifies (so every refusal below is the lie, not the fixture)', async () => {
  const path = join(work, 'good.tar');
  await writeBundle(path, goodBundle());
  const result = await measured(['verify', path]);
  assert.equal(result.code, 0, result.output);
  const inspected = await inspectBundle(path);
  assert.deepEqual(inspected.images.map((i) => i.name), ['example.com/app/web:1.0', 'example.com/app/tool:2.0']);
});

describe('hostile bundles', { concurrency: 4 }, () => {
  // Every case through verify and the in-process reader; the first of each class through every command.
  const classes = new Set<string>();
  for (const hostile of HOSTILE_BUNDLES) {
    const everyCommand = !classes.has(hostile.class);
    classes.add(hostile.class);
    test(`${hostile.class}: ${hostile.name} -> exit ${hostile.code}`, async () => {
      const dir = join(work, hostile.name.replace(/[^a-z0-9]+/gi, '-'));
      await mkdir(dir);
      const path = join(dir, 'bundle.tar');
      await writeBundle(path, hostile.make());
      assertRefusal(await measured(['verify', path]), hostile.code, hostile.culprit, 'verify');
      if (hostile.code === 7) {
        await assert.rejects(inspectBundle(path), (error) => error instanceof AbortError && error.exitCode === 7 && hostile.culprit.test(error.message));
      }
      if (everyCommand) {
        if (hostile.code === 7) {
          assertRefusal(await measured(['inspect', path]), 7, hostile.culprit, 'inspect');
          assertRefusal(await measured(['check', path, '--kubeconfig', kubeconfig, '--json']), 7, hostile.culprit, 'check');
        }
        assertRefusal(await measured(['install', path, '--kubeconfig', kubeconfig, '--yes', '--no-tui']), hostile.code, hostile.culprit, 'install');
      }
      assert.deepEqual(await readdir(dir), ['bundle.tar'], 'nothing was written beside the bundle');
      assert.equal(existsSync('/tmp/x'), false);
    });
  }
});

describe('input that is not a regular file', () => {
  const cases: Array<[string, () => Promise<string>]> = [
    ['a directory', async () => work],
    ['a FIFO (would block a reader forever)', async () => {
      const fifo = join(work, 'fifo');
      execFileSync('mkfifo', [fifo]);
      return fifo;
    }],
    ['a character device', async () => '/dev/zero'],
  ];
  for (const [name, make] of cases) {
    test(`${name} is refused at once with exit 7`, async () => {
      const path = await make();
      for (const command of ['verify', 'inspect']) {
        const result = await runLading([command, path], { timeoutMs: 20_000 });
        assert.equal(result.code, 7, `${command}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, /not a regular file/);
      }
    });
  }
});
