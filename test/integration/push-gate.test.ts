/**
 * Registry mode with credentials, without a cluster: the push gate (src/injector/gate.go) as the registry
 * pod runs it. lading's own carryProgram cuts the injector into ConfigMaps; their keys are written into one
 * read-only directory as the kubelet projects them; the stage-0 loader joins the chunks and executes the
 * gate, as nobody with no capability and no_new_privs. In front of the real docker-registry with htpasswd:
 * lading's pusher with the push token gets an image in (skopeo, with the credentials, finds its digest);
 * no token or a wrong one is refused before anything reaches the registry. The arm64 loader runs under
 * qemu-user up to its execveat, which qemu-user does not implement: its system calls are checked instead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { carryProgram, type CarriedProgram } from '../../src/core/configmap/program.js';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { readDescription } from '../../src/core/bundle/documents.js';
import { RegistryPusher } from '../../src/core/registry/push.js';
import { pushBundleImage } from '../../src/core/registry/push-image.js';
import { DirectTransport, type PushTransport } from '../../src/core/registry/transport.js';
import { PUSH_TOKEN_HEADER } from '../../src/core/registry/auth.js';
import { parseReference } from '../../src/core/oci/reference.js';
import { buildInjector, makeReadOnly, type BuiltInjector } from '../support/injector.js';
import { freePort, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage } from '../support/images.js';
import { runLading, specText } from '../support/lading.js';
import { requireTool } from '../support/tools.js';

const run = promisify(execFile);
const TOKEN = 'gate-test-token-0123456789';
const USER = { username: 'lading', password: 'gate-test-password' };
let work: string;
let built: Record<string, BuiltInjector>;
let bundle: string;
let source: TestRegistry;

/** carryProgram's ConfigMaps written as the kubelet projects them into one directory (0555 files). */
async function projectProgram(program: CarriedProgram, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const cm of program.configMaps) {
    for (const [key, value] of Object.entries(cm.binaryData ?? {})) {
      await writeFile(join(dir, key), Buffer.from(value, 'base64'));
      await chmod(join(dir, key), 0o555);
    }
  }
}

before(async () => {
  requireTool('skopeo', 'install it with `apt-get install skopeo`');
  work = await mkdtemp(join(tmpdir(), 'lading-gate-'));
  await chmod(work, 0o755); // nobody runs the gate from below it
  built = await buildInjector();
  source = await startRegistry();
  const app = await pushImage(source, { repository: 'gate/app', tag: '1', layers: [{ randomBytes: 3 << 20, seed: 'gate-app' }] });
  await writeFile(join(work, 'spec.yaml'), specText([app.ref], ['linux/amd64']));
  bundle = join(work, 'bundle.tar');
  const created = await runLading(['create', join(work, 'spec.yaml'), '-o', bundle], { env: { LADING_CACHE_DIR: join(work, 'cache') } });
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('carryProgram: the loader and chunks of at most 768 KiB, one ConfigMap each, named by content, under the API limit', async () => {
  const injector = built['linux/amd64']!;
  const program = await carryProgram({ ...injector, platform: 'linux/amd64' }, 'lading-push-gate', '/lading/gate');
  assert.equal(program.configMaps.length, Math.ceil(injector.size / (768 << 10)));
  for (const [n, cm] of program.configMaps.entries()) {
    assert.equal(cm.metadata!.name, `lading-push-gate-${program.id}-${n}`);
    assert.equal(cm.immutable, true);
    const bytes = Object.values(cm.binaryData!).reduce((sum, v) => sum + Buffer.from(v, 'base64').length, 0);
    assert.ok(bytes <= (768 << 10) + injector.loader.size && bytes < 1 << 20, `${cm.metadata!.name}: ${bytes} bytes`);
  }
  assert.deepEqual(program.command, ['/lading/gate/loader', ...program.configMaps.map((_, n) => `/lading/gate/program.${n}`), '--']);
  assert.ok(injector.loader.size < 1024, `the loader is ${injector.loader.size} bytes`);
  const again = await carryProgram({ ...injector, platform: 'linux/amd64' }, 'lading-push-gate', '/lading/gate');
  assert.equal(again.id, program.id, 'the same bytes give the same names');
});

test('the gate, loaded from its ConfigMaps as nobody, lets lading push into a registry with htpasswd; without the token nothing passes', async (t) => {
  const registry = await startRegistry({ auth: USER });
  t.after(() => registry.stop());
  const injector = built['linux/amd64']!;
  const program = await carryProgram({ ...injector, platform: 'linux/amd64' }, 'lading-push-gate', join(work, 'root/gate'));
  await projectProgram(program, join(work, 'root/gate'));
  await mkdir(join(work, 'root/secrets'), { recursive: true });
  await writeFile(join(work, 'root/secrets/push-token'), `${TOKEN}\n`);
  await writeFile(join(work, 'root/secrets/registry-credentials'), `${USER.username}:${USER.password}`);
  await chmod(join(work, 'root/secrets/push-token'), 0o444);
  await chmod(join(work, 'root/secrets/registry-credentials'), 0o444);
  await makeReadOnly(join(work, 'root'));

  const port = await freePort();
  const argv = [...program.command, 'injector', 'gate', '-listen', `127.0.0.1:${port}`, '-upstream', registry.host, '-secrets', join(work, 'root/secrets')];
  const setpriv = requireTool('setpriv', 'install it with `apt-get install util-linux`');
  const asNobody = process.getuid?.() === 0 ? [setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', ...argv]] as const : [argv[0]!, argv.slice(1)] as const;
  const child = spawn(asNobody[0], asNobody[1], { env: {}, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', () => (/listening on/.test(stderr) ? resolve() : undefined));
    void exited.then((code) => reject(new Error(`the gate exited with ${code}: ${stderr}`)));
  });
  const gate = `http://127.0.0.1:${port}`;

  assert.equal((await fetch(`${gate}/lading-gate/ready`)).status, 200, 'ready: the registry takes the gate\'s credentials');
  for (const headers of [{}, { [PUSH_TOKEN_HEADER]: 'wrong' }, { [PUSH_TOKEN_HEADER]: TOKEN.slice(0, -1) }]) {
    const res = await fetch(`${gate}/v2/gate/app/blobs/uploads/`, { method: 'POST', headers });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /"code":"UNAUTHORIZED"/);
  }
  assert.equal((await registry.fetch('/v2/_catalog')).status, 200);
  assert.deepEqual(await (await registry.fetch('/v2/_catalog')).json(), { repositories: [] }, 'nothing reached the registry');
  assert.equal((await registry.fetch('/v2/', { auth: false })).status, 401, 'the registry itself wants credentials');

  const direct = new DirectTransport(gate);
  const withToken: PushTransport = { name: direct.name, send: (req) => direct.send({ ...req, headers: { ...(req.headers ?? {}), [PUSH_TOKEN_HEADER]: TOKEN } }), locate: (l) => direct.locate(l) };
  const reader = await BundleReader.open(bundle);
  let root: string;
  try {
    const image = (await readDescription(reader)).metadata.images[0]!;
    const ref = parseReference(image.name);
    const r = await pushBundleImage(new RegistryPusher(withToken, { chunkBytes: 1 << 20 }), reader, image, { repository: ref.repository, tag: ref.tag });
    assert.ok(r.uploaded >= 2, JSON.stringify(r));
    root = image.root.digest;
  } finally {
    await reader.close();
  }
  const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo`');
  const { stdout } = await run(skopeo, ['inspect', '--raw', '--tls-verify=false', '--creds', `${USER.username}:${USER.password}`, `docker://${registry.host}/gate/app:1`]);
  const { createHash } = await import('node:crypto');
  assert.equal(`sha256:${createHash('sha256').update(stdout).digest('hex')}`, root, 'the registry holds the bundle\'s manifest byte for byte');
  assert.doesNotMatch(stderr, new RegExp(`${TOKEN}|${USER.password}`), 'the gate never logs a secret');
});

test('the arm64 loader, under qemu-user: memfd, each chunk opened and copied in order, then execveat of the memfd with the program\'s argv', async () => {
  const qemu = requireTool('qemu-aarch64-static', 'install it with `apt-get install qemu-user-static`');
  const injector = built['linux/arm64']!;
  const program = await carryProgram({ ...injector, platform: 'linux/arm64' }, 'lading-push-gate', join(work, 'arm64'));
  await projectProgram(program, join(work, 'arm64'));
  const result = await run(qemu, ['-strace', ...program.command, 'injector', 'gate', '-h']).catch((e: { code: number; stderr: string; stdout: string }) => e);
  const trace = `${result.stderr}${result.stdout}`;
  const calls = trace.split('\n').map((l) => l.replace(/^\d+ /, '')).filter((l) => /^(memfd_create|openat|sendfile|close|execveat|exit_group)\(/.test(l));
  assert.match(calls[0] ?? '', /^memfd_create\(\d+,1,.* = 3$/, 'memfd_create(name, MFD_CLOEXEC)');
  const opened = calls.filter((c) => c.startsWith('openat(AT_FDCWD,"')).map((c) => c.match(/"([^"]+)"/)![1]);
  assert.deepEqual(opened, program.command.slice(1, -1), 'every chunk, in order');
  const copied = calls.filter((c) => c.startsWith('sendfile(')).map((c) => Number(c.split(' = ')[1]));
  assert.equal(copied.reduce((a, b) => a + b, 0), injector.size, 'all of the program copied');
  assert.match(calls.find((c) => c.startsWith('execveat(')) ?? '', /^execveat\(3,\d+,\d+,\d+,4096,0\)/, 'execveat(memfd, "", argv, envp, AT_EMPTY_PATH)');
  // qemu-user has no execveat: the loader then says so and exits 124.
  assert.equal((result as { code?: number }).code, 124, trace.slice(-400));
  assert.match(trace, /lading loader: cannot load the program/);
});
