/**
 * `lading create` against a real registry (Debian's docker-registry) filled
 * with images the tests build; skopeo and umoci are the oracles.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, type PushedImage } from '../support/images.js';
import { requireTool } from '../support/tools.js';
import { runLading, specText } from '../support/lading.js';
import { startContainerd } from '../support/containerd.js';
import { startTokenServer } from '../support/token-server.js';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { planNodeArchive, streamNodeArchive } from '../../src/core/bundle/node-archive.js';
import { readDescription } from '../../src/core/bundle/documents.js';

const run = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let work: string;
let registry: TestRegistry;
let web: PushedImage;
let tools: PushedImage;
let skopeo: string;

const base = { randomBytes: 3 << 20, seed: 'integration-base' };

before(async () => {
  skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)');
  work = await mkdtemp(join(tmpdir(), 'lading-it-'));
  registry = await startRegistry();
  web = await pushImage(registry, {
    repository: 'demo/web',
    tag: '1.0',
    platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'],
    layers: [base, { files: { 'srv/index.html': '<h1>demo</h1>\n' } }],
  });
  tools = await pushImage(registry, { repository: 'demo/tools', tag: '2.1', platforms: ['linux/amd64'], layers: [base] });
});

after(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function create(name: string, spec: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const specFile = join(work, `${name}.yaml`);
  const output = join(work, `${name}.tar`);
  await writeFile(specFile, spec);
  const result = await runLading(['create', specFile, '-o', output, '--json', ...extraArgs], {
    env: { LADING_CACHE_DIR: join(work, `${name}-cache`), ...env },
  });
  return { ...result, output, specFile };
}

describe('lading create from a real registry', () => {
  test('writes a bundle skopeo reads with the source digests; shared layers stored once', async () => {
    const r = await create('basic', specText([web.ref, { name: tools.ref, platforms: ['linux/amd64'] }]));
    assert.equal(r.code, 0, r.stderr);
    const { summary } = JSON.parse(r.stdout);
    assert.equal(summary.images, 2);
    assert.deepEqual(summary.platforms, ['linux/amd64', 'linux/arm64']);
    assert.ok(summary.savedBytes >= 2 * (3 << 20) * 0.9, `dedup saved ${summary.savedBytes}`);

    // The tag resolves to the very index the registry serves (digest kept), through skopeo.
    const raw = await run(skopeo, ['inspect', '--raw', `oci-archive:${r.output}:${web.ref}`], { encoding: 'buffer' });
    assert.equal(sha256(raw.stdout as Buffer), web.digest);
    for (const arch of ['amd64', 'arm64']) {
      const inspected = JSON.parse((await run(skopeo, ['--override-arch', arch, 'inspect', `oci-archive:${r.output}:${web.ref}`])).stdout);
      assert.equal(inspected.Architecture, arch);
      assert.deepEqual(inspected.Layers, web.platforms.find((p) => p.platform.includes(arch))!.layers);
    }
    // Only the wanted platforms travel: s390x is listed by the index but not carried.
    const listing = (await run('tar', ['tf', r.output])).stdout;
    const s390x = web.platforms.find((p) => p.platform === 'linux/s390x')!;
    assert.ok(!listing.includes(s390x.digest.slice(7)), 's390x manifest must not be in the bundle');
    const baseLayer = web.platforms[0]!.layers[0]!;
    assert.equal(listing.split('\n').filter((l) => l.includes(baseLayer.slice(7))).length, 1, 'shared layer stored once');

    // A full copy out of the bundle by skopeo: every blob of the platform verifies on its side too.
    const ociDir = join(work, 'copied');
    await run(skopeo, ['copy', `oci-archive:${r.output}:${tools.ref}`, `oci:${ociDir}:tools`]);
    const copiedIndex = JSON.parse(await readFile(join(ociDir, 'index.json'), 'utf8'));
    assert.equal(copiedIndex.manifests[0].digest, tools.digest);

    const verify = await runLading(['verify', r.output]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /^OK /);

    const inspect = JSON.parse((await runLading(['inspect', r.output, '--json'])).stdout);
    assert.deepEqual(inspect.images.map((i: { name: string }) => i.name), [web.ref, tools.ref]);
    assert.equal(inspect.images[0].digest, web.digest);
    assert.equal(inspect.layers.unique, 4, 'base, html, and one platform-file layer per platform');
  });

  test('a reference pinned by the source index digest still resolves from the bundle', async () => {
    const pinned = `${registry.host}/demo/web@${web.digest}`;
    const r = await create('pinned', specText([pinned]));
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse((await run('tar', ['xOf', r.output, 'index.json'])).stdout);
    assert.equal(index.manifests[0].digest, web.digest);
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], pinned);
    const raw = await run(skopeo, ['inspect', '--raw', `oci-archive:${r.output}:${pinned}`], { encoding: 'buffer' });
    assert.equal(sha256(raw.stdout as Buffer), web.digest);
  });

  test('containerd imports the bundle as it is, from a file and from a pipe, under the full names', async (t) => {
    const containerd = await startContainerd();
    t.after(() => containerd.stop());
    const r = await create('ctr', specText([web.ref, { name: tools.ref, platforms: ['linux/amd64'] }]));
    assert.equal(r.code, 0, r.stderr);
    await containerd.ctr(['images', 'import', r.output]);
    const listed = (await containerd.ctr(['images', 'ls'])).stdout;
    assert.match(listed, new RegExp(`${web.ref.replace(/[.]/g, '\\.')}\\s+application/vnd.oci.image.index.v1\\+json\\s+${web.digest}`));
    assert.match(listed, new RegExp(`${tools.ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${tools.digest}`));
    // ctr reads the archive front to back, so a pipe works too (what install streams to a node).
    const piped = spawn('ctr', ['-a', containerd.socket, '-n', 'piped', 'images', 'import', '--no-unpack', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    piped.stderr.on('data', (s) => (stderr += s));
    createReadStream(r.output).pipe(piped.stdin);
    const code = await new Promise((resolve) => piped.on('close', resolve));
    assert.equal(code, 0, stderr);
    const names = (await containerd.ctr(['images', 'ls', '-q'], { namespace: 'piped' })).stdout.trim().split('\n').sort();
    assert.deepEqual(names, [web.ref, tools.ref].sort());
  });

  test('a node archive carries one platform out of the bundle, and containerd imports it from a pipe', async (t) => {
    const containerd = await startContainerd();
    t.after(() => containerd.stop());
    const r = await create('node-archive', specText([web.ref, { name: tools.ref, platforms: ['linux/amd64'] }]));
    assert.equal(r.code, 0, r.stderr);
    const reader = await BundleReader.open(r.output);
    t.after(() => reader.close());
    const { metadata } = await readDescription(reader);
    const arm = planNodeArchive(metadata.images, 'linux/arm64/v8');
    assert.deepEqual(arm.images.map((i) => i.image.name), [web.ref], 'tools has no arm64 build');
    const amd = planNodeArchive(metadata.images, 'linux/amd64');
    assert.deepEqual(amd.images.map((i) => i.image.name), [web.ref, tools.ref]);
    const armManifest = web.platforms.find((p) => p.platform.startsWith('linux/arm64'))!.digest;
    assert.ok(!amd.blobs.some((b) => b.digest === armManifest), 'no arm64 manifest in an amd64 archive');

    let streamed = 0;
    const archive = streamNodeArchive(reader, amd, { onBytes: (n) => (streamed += n) });
    const ctr = spawn('ctr', ['-a', containerd.socket, '-n', 'k8s.io', 'images', 'import', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    ctr.stderr.on('data', (s) => (stderr += s));
    archive.pipe(ctr.stdin);
    assert.equal(await new Promise((resolve) => ctr.on('close', resolve)), 0, stderr);
    assert.equal(streamed, amd.bytes);
    const listed = (await containerd.ctr(['images', 'ls'], { namespace: 'k8s.io' })).stdout;
    assert.match(listed, new RegExp(`${web.ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${web.digest}`), 'the index digest is kept');
    assert.match(listed, new RegExp(`${tools.ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${tools.digest}`));
  });

  test('Docker schema 2 manifest lists and manifests travel unchanged', async () => {
    const docker = await pushImage(registry, {
      repository: 'legacy/app',
      tag: '3',
      format: 'docker',
      platforms: ['linux/amd64', 'linux/arm64'],
      layers: [{ files: { 'etc/legacy': 'yes\n' } }],
    });
    assert.equal(docker.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const r = await create('docker-format', specText([docker.ref]));
    assert.equal(r.code, 0, r.stderr);
    const raw = await run(skopeo, ['inspect', '--raw', `oci-archive:${r.output}:${docker.ref}`], { encoding: 'buffer' });
    assert.equal(sha256(raw.stdout as Buffer), docker.digest);
    const arm = JSON.parse((await run(skopeo, ['--override-arch', 'arm64', 'inspect', `oci-archive:${r.output}:${docker.ref}`])).stdout);
    assert.deepEqual(arm.Layers, docker.platforms.find((p) => p.platform.startsWith('linux/arm64'))!.layers);
    const verify = await runLading(['verify', r.output]);
    assert.equal(verify.code, 0, verify.stdout);
    const containerd = await startContainerd();
    try {
      await containerd.ctr(['images', 'import', r.output]);
      assert.match((await containerd.ctr(['images', 'ls'])).stdout, new RegExp(`${docker.ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${docker.digest}`));
    } finally {
      await containerd.stop();
    }
  });

  test('a second create downloads nothing: the cache holds verified blobs', async () => {
    const spec = specText([web.ref]);
    const first = await create('cache', spec);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(JSON.parse(first.stdout).summary.downloadedBytes > 3 << 20);
    const again = await create('cache', spec, ['--force']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).summary.downloadedBytes, 0);
  });

  test('a missing tag is a registry error naming the image, and no file is left', async () => {
    const r = await create('missing', specText([`${registry.host}/demo/web:nope`]));
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /demo\/web:nope: manifest not found \(404/);
    assert.equal(JSON.parse(r.stdout).ok, false);
    assert.deepEqual((await readdir(work)).filter((f) => f.startsWith('missing') && f !== 'missing.yaml' && f !== 'missing-cache'), []);
  });

  test('a platform the image lacks is refused before anything is written', async () => {
    const r = await create('noplatform', specText([{ name: tools.ref, platforms: ['linux/arm64'] }]));
    assert.equal(r.code, 4);
    assert.match(r.stderr, /single-platform image for linux\/amd64, the spec asks for linux\/arm64/);
  });

  test('a corrupted bundle fails verify, naming the blob', async () => {
    const r = await create('corrupt', specText([tools.ref], ['linux/amd64']));
    assert.equal(r.code, 0, r.stderr);
    const bytes = await readFile(r.output);
    const layer = tools.platforms[0]!.layers[0]!;
    // Flip one byte in the middle of the big layer.
    const at = bytes.indexOf(Buffer.from(`blobs/sha256/${layer.slice(7)}`));
    assert.ok(at >= 0);
    bytes[at + 512 + 100_000]! ^= 0xff;
    await writeFile(r.output, bytes);
    const verify = await runLading(['verify', r.output]);
    assert.equal(verify.code, 6);
    assert.match(verify.stdout, new RegExp(`blob ${layer}: content does not match its digest`));
    assert.match(verify.stdout, new RegExp(`${tools.ref.replace(/[.]/g, '\\.')} \\(linux/amd64\\): layer ${layer} is corrupted`));
  });

  test('a spec error names file, line and field with exit code 3', async () => {
    const r = await create('badspec', 'apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: x, version: "1"}\nspec:\n  images: [NOPE]\n');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /badspec\.yaml:5:12: spec\.images\[0\]: invalid image reference "NOPE"/);
  });
});

describe('registries with auth and TLS', () => {
  test('htpasswd auth: no credentials, wrong credentials and right ones', async (t) => {
    const secured = await startRegistry({ auth: { username: 'alice', password: 's3cret-pass' } });
    t.after(() => secured.stop());
    const image = await pushImage(secured, { repository: 'private/app', tag: '1', layers: [{ files: { a: 'b' } }] });
    const spec = specText([image.ref], ['linux/amd64']);
    const authDir = await mkdtemp(join(work, 'auth-'));
    const authFile = join(authDir, 'auth.json');
    const isolated = { HOME: authDir, DOCKER_CONFIG: join(authDir, 'docker'), XDG_RUNTIME_DIR: authDir, REGISTRY_AUTH_FILE: authFile };

    const none = await create('auth-none', spec, [], isolated);
    assert.equal(none.code, 5, none.stderr);
    assert.match(none.stderr, /requires authentication and no credentials were found/);
    assert.match(none.stderr, new RegExp(`Looked in: ${authFile.replace(/[.]/g, '\\.')}`));

    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { [secured.host]: { auth: b64('alice:wrong-pass') } } }));
    const wrong = await create('auth-wrong', spec, [], isolated);
    assert.equal(wrong.code, 5, wrong.stderr);
    assert.match(wrong.stderr, new RegExp(`refused the credentials for user "alice" from ${authFile.replace(/[.]/g, '\\.')}`));
    assert.ok(!wrong.stderr.includes('wrong-pass') && !wrong.stdout.includes('wrong-pass'), 'the secret is never printed');

    await writeFile(authFile, JSON.stringify({ auths: { [`https://${secured.host}`]: { auth: b64('alice:s3cret-pass') } } }));
    const ok = await create('auth-ok', spec, [], isolated);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('Bearer token flow: credentials go to the token service, the registry gets a scoped token', async (t) => {
    const dir = await mkdtemp(join(work, 'token-'));
    // Fill the storage through an open registry, then serve it with token auth.
    const open = await startRegistry({ stateDir: join(dir, 'registry'), keepState: true });
    const image = await pushImage(open, { repository: 'team/app', tag: '2', layers: [{ files: { t: 'token\n' } }] });
    await open.stop();
    const tokens = await startTokenServer(dir, { username: 'bob', password: 'token-pass' });
    t.after(() => tokens.stop());
    const secured = await startRegistry({
      stateDir: join(dir, 'registry'),
      tokenAuth: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile },
    });
    t.after(() => secured.stop());
    const ref = `${secured.host}/team/app:2`;
    const spec = specText([ref], ['linux/amd64']);
    const authFile = join(dir, 'auth.json');
    const isolated = { HOME: dir, DOCKER_CONFIG: join(dir, 'docker'), XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: authFile };

    const anonymous = await create('token-anon', spec, [], isolated);
    assert.equal(anonymous.code, 5, anonymous.stderr);
    assert.match(anonymous.stderr, /requires authentication and no credentials were found/);

    await writeFile(authFile, JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from('bob:token-pass').toString('base64') } } }));
    const ok = await create('token-ok', spec, [], isolated);
    assert.equal(ok.code, 0, ok.stderr);
    const granted = tokens.requests.filter((r) => r.authenticated);
    assert.ok(granted.length >= 1);
    assert.match(granted[0]!.query, /scope=repository%3Ateam%2Fapp%3Apull/);
    assert.match(granted[0]!.query, /service=lading-test-registry/);
    const raw = await run(skopeo, ['inspect', '--raw', `oci-archive:${ok.output}:${ref}`], { encoding: 'buffer' });
    assert.equal(sha256(raw.stdout as Buffer), image.digest);
  });

  test('TLS with a private CA: refused without --ca-file, works with it', async (t) => {
    const tls = await startRegistry({ tls: true });
    t.after(() => tls.stop());
    const image = await pushImage(tls, { repository: 'secure/app', tag: '1', layers: [{ files: { x: 'y' } }] });
    const spec = specText([image.ref], ['linux/amd64']);
    const untrusted = await create('tls-untrusted', spec);
    assert.equal(untrusted.code, 4, untrusted.stderr);
    assert.match(untrusted.stderr, /TLS certificate not trusted/);
    assert.match(untrusted.stderr, /--ca-file/);
    const trusted = await create('tls-trusted', spec, ['--ca-file', tls.caFile!]);
    assert.equal(trusted.code, 0, trusted.stderr);
  });
});
