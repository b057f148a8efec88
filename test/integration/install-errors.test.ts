/**
 * lading install's answers to bad input that need no cluster: no bundle, a
 * kubeconfig that does not exist or names a missing context, and an API
 * server nobody listens on. Each is one clear line and an exit code, and the
 * bundle is verified before any of the cluster is touched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRegistry } from '../support/registry.js';
import { pushImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';

let work: string;
let bundle: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-install-errors-'));
  const registry = await startRegistry();
  try {
    const image = await pushImage(registry, { repository: 'errors/app', tag: '1', layers: [{ files: { a: 'b' } }] });
    const spec = join(work, 'lading.yaml');
    await writeFile(spec, specText([image.ref], ['linux/amd64']));
    bundle = join(work, 'bundle.tar');
    const r = await runLading(['create', spec, '-o', bundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await registry.stop();
  }
});

after(() => rm(work, { recursive: true, force: true }));

function kubeconfig(server: string, context = 'only'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'not-a-real-token' } }],
    contexts: [{ name: context, context: { cluster: 'c', user: 'u' } }],
    'current-context': context,
  });
}

describe('install refuses bad input with one clear line', () => {
  test('no bundle and no --restore is a usage error', async () => {
    const r = await runLading(['install', '--yes']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: install needs a bundle file \(or --restore\)$/m);
  });

  test('--dry-run with --restore is a usage error', async () => {
    const r = await runLading(['install', bundle, '--restore', '--dry-run']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^Error: --dry-run and --restore exclude each other$/m);
  });

  test('--keep-free and --concurrency outside their ranges are usage errors', async () => {
    for (const [flag, value, message] of [
      ['--keep-free', '100', /--keep-free must be a whole percentage from 0 to 99, got "100"/],
      ['--keep-free', '-5', /--keep-free must be a whole percentage from 0 to 99, got "-5"/],
      ['--concurrency', '0', /--concurrency must be a whole number from 1 to 32, got "0"/],
    ] as const) {
      const r = await runLading(['install', bundle, '--yes', `${flag}=${value}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  test('a kubeconfig that does not exist, or lacks the context asked for', async () => {
    const missing = await runLading(['install', bundle, '--yes', '--kubeconfig', join(work, 'nope.yaml')]);
    assert.equal(missing.code, 8, missing.stderr);
    assert.match(missing.stderr, /cannot load kubeconfig .*nope\.yaml/);
    const file = join(work, 'one-context.yaml');
    await writeFile(file, kubeconfig('https://127.0.0.1:9'));
    const context = await runLading(['install', bundle, '--yes', '--kubeconfig', file, '--context', 'other']);
    assert.equal(context.code, 8, context.stderr);
    assert.match(context.stderr, /kubeconfig has no context "other"\nNext: Contexts: only\./);
  });

  test('an API server nobody answers: exit 8 after the bundle was verified, nothing else touched', async () => {
    const port = await freePort();
    const file = join(work, 'closed.yaml');
    await writeFile(file, kubeconfig(`https://127.0.0.1:${port}`));
    const r = await runLading(['install', bundle, '--yes', '--kubeconfig', file]);
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stdout, /✔ Verify bundle/);
    assert.match(r.stderr, new RegExp(`reach the API server at https://127\\.0\\.0\\.1:${port}: cannot reach the cluster \\(ECONNREFUSED\\)`));
  });
});

describe('check refuses bad input with one clear line', () => {
  test('a file that is not a bundle: exit 7 before the cluster is asked anything', async () => {
    const file = join(work, 'closed-for-check.yaml');
    await writeFile(file, kubeconfig(`https://127.0.0.1:${await freePort()}`));
    const notBundle = join(work, 'not-a-bundle.tar');
    await writeFile(notBundle, 'hello');
    const r = await runLading(['check', notBundle, '--kubeconfig', file]);
    assert.equal(r.code, 7, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /API server/);
  });

  test('an API server nobody answers: exit 8 once the bundle was read', async () => {
    const port = await freePort();
    const file = join(work, 'closed-check.yaml');
    await writeFile(file, kubeconfig(`https://127.0.0.1:${port}`));
    const r = await runLading(['check', bundle, '--kubeconfig', file]);
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stdout, /✔ Read bundle/);
    assert.match(r.stderr, new RegExp(`reach the API server at https://127\\.0\\.0\\.1:${port}: cannot reach the cluster \\(ECONNREFUSED\\)`));
  });

  test('check takes install\'s configure flags, since --repair configures the runtimes as install does', async () => {
    const help = await runLading(['check', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of ['--containerd-config <path>', '--storage-conf <path>', '--mirror-auth <file>', '--mirror-auth-secret <name>', '--containerd-socket <path>', '--ctr <path>']) {
      assert.ok(help.stdout.includes(flag), `${flag} in check --help`);
    }
    const file = join(work, 'closed-repair.yaml');
    await writeFile(file, kubeconfig(`https://127.0.0.1:${await freePort()}`));
    const auth = join(work, 'mirror-auth.json');
    await writeFile(auth, '{"auths": {}}');
    const r = await runLading(['check', bundle, '--repair', '--yes', '--kubeconfig', file, '--containerd-config', '/etc/site/containerd.toml', '--storage-conf', '/etc/site/storage.conf', '--mirror-auth', auth]);
    assert.equal(r.code, 8, `accepted, then the cluster is unreachable: ${r.stderr}`);
    const both = await runLading(['check', bundle, '--mirror-auth', auth, '--mirror-auth-secret', 'creds']);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /option '--mirror-auth-secret <name>' cannot be used with option '--mirror-auth <file>'/);
  });

  test('--repair without a terminal needs --yes; a missing bundle argument is a usage error', async () => {
    const repair = await runLading(['check', bundle, '--repair']);
    assert.equal(repair.code, 2, repair.stderr);
    assert.match(repair.stderr, /check --repair changes nodes and needs confirmation, but there is no terminal to ask on/);
    const none = await runLading(['check']);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /missing required argument 'bundle'/);
  });
});
