/**
 * Credentials against a redirecting registry: they reach only the origin
 * (scheme, host, port) they are for, whatever the registry redirects to, and
 * HTTPS is never silently given up for plain HTTP. Asserted on what the
 * servers SAW, not on what lading says it sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostileRegistry, redirect, sendJson, serveImage, tinyImage, type Handler } from '../support/hostile-registry.js';
import { assertBounded, assertRefused, createIn } from '../support/hostile-run.js';
import { makeCertificates } from '../support/registry.js';

const AUTH = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
const image = tinyImage();
let work: string;
let tls: ReturnType<typeof makeCertificates>;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-hostile-auth-'));
  tls = makeCertificates(join(work, 'certs'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * The origin (`isOrigin`) wants Basic credentials, then redirects every manifest
 * and blob request to `target` + the same path; everything else serves the image.
 */
function redirecting(isOrigin: (listener: string, host: string) => boolean, target: string): Handler {
  const honest = serveImage(image);
  return (req, res, t, listener) => {
    if (!isOrigin(listener, req.headers.host ?? '')) return honest(req, res, t, listener);
    if (req.headers.authorization !== AUTH) {
      return sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'log in' }] }, { 'www-authenticate': 'Basic realm="hostile"' });
    }
    if (t.kind === 'base') return sendJson(res, 200, {});
    redirect(res, `${target}${req.url}`);
  };
}

/** Runs create for `registryHost/hostile/app:1` with credentials for that registry only. */
async function createWithCredentials(registryHost: string, args: string[] = []) {
  const dir = await mkdtemp(join(work, 'case-'));
  const authFile = join(dir, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: { [registryHost]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  return createIn(dir, `${registryHost}/hostile/app:1`, { args: ['--ca-file', tls.caFile, ...args], env: { REGISTRY_AUTH_FILE: authFile } });
}

function assertCreated(r: Awaited<ReturnType<typeof createIn>>): void {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assertBounded(r);
}

function assertNoCredentials(seen: HostileRegistry['seen'], what: string): void {
  assert.ok(seen.some((s) => s.path.includes('/manifests/')), `${what} was asked for the manifest`);
  assert.ok(seen.some((s) => s.path.includes('/blobs/')), `${what} was asked for blobs`);
  assert.deepEqual(seen.filter((s) => s.authorization !== undefined), [], `${what} saw no Authorization header`);
}

// One run at a time: bin/lading rebuilds dist/ when sources changed, and parallel runs could read it half-written.
describe('credentials and redirects', () => {
  test('https://localhost:P -> http://localhost:P (same host and port, plain HTTP): followed for loopback, no credentials', async (t) => {
    const registry = new HostileRegistry();
    t.after(() => registry.close());
    const port = await registry.listenDual('dual', tls);
    registry.handle(redirecting((listener) => listener === 'dual:https', `http://localhost:${port}`));
    const r = await createWithCredentials(`localhost:${port}`);
    assertCreated(r);
    assert.ok(registry.seenBy('dual:https').some((s) => s.authorization === AUTH), 'the origin got the credentials');
    assertNoCredentials(registry.seenBy('dual:http'), 'the plain-HTTP side');
  });

  test('https -> plain HTTP on a host not allowed plain HTTP: refused, nothing sent there', async (t) => {
    const registry = new HostileRegistry();
    t.after(() => registry.close());
    const port = await registry.listen('tls', tls);
    registry.handle(redirecting(() => true, 'http://registry.example.invalid:5000'));
    const r = await createWithCredentials(`localhost:${port}`);
    t.diagnostic(assertRefused(r, 4, new RegExp(`localhost:${port}/hostile/app:1: refused a redirect from HTTPS to plain HTTP \\(http://registry\\.example\\.invalid:5000\\)`)));
  });

  test('https -> http on another port: no credentials', async (t) => {
    const registry = new HostileRegistry();
    t.after(() => registry.close());
    const tlsPort = await registry.listen('tls', tls);
    const plainPort = await registry.listen('plain');
    registry.handle(redirecting((listener) => listener === 'tls', `http://localhost:${plainPort}`));
    assertCreated(await createWithCredentials(`localhost:${tlsPort}`));
    assertNoCredentials(registry.seenBy('plain'), 'the other port');
  });

  test('http -> http on another port of the same host: no credentials', async (t) => {
    const registry = new HostileRegistry();
    t.after(() => registry.close());
    const origin = await registry.listen('origin');
    const other = await registry.listen('other');
    registry.handle(redirecting((listener) => listener === 'origin', `http://127.0.0.1:${other}`));
    assertCreated(await createWithCredentials(`127.0.0.1:${origin}`));
    assert.ok(registry.seenBy('origin').some((s) => s.authorization === AUTH));
    assertNoCredentials(registry.seenBy('other'), 'the other port');
  });

  test('https://localhost:P -> https://127.0.0.1:P (another host name, same server): no credentials', async (t) => {
    const registry = new HostileRegistry();
    t.after(() => registry.close());
    const port = await registry.listen('tls', tls);
    registry.handle(redirecting((_listener, host) => host === `localhost:${port}`, `https://127.0.0.1:${port}`));
    assertCreated(await createWithCredentials(`localhost:${port}`));
    assert.ok(registry.seenBy('tls', `localhost:${port}`).some((s) => s.authorization === AUTH));
    assertNoCredentials(registry.seenBy('tls', `127.0.0.1:${port}`), 'the other host name');
  });
});
