import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultAuthFiles, findCredential } from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('looks in REGISTRY_AUTH_FILE, DOCKER_CONFIG, then the containers and Docker defaults', () => {
  assert.deepEqual(defaultAuthFiles({ env: { REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/0' }, home: '/h' }), [
    '/a.json',
    '/run/user/0/containers/auth.json',
    '/h/.config/containers/auth.json',
    '/h/.docker/config.json',
  ]);
  assert.deepEqual(defaultAuthFiles({ env: { DOCKER_CONFIG: '/d' }, home: '/h' }), ['/d/config.json', '/h/.config/containers/auth.json']);
});

test('finds Docker Hub under its legacy key, and the most specific repository scope first', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-creds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.json');
  await writeFile(
    file,
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub-user:hub-pass') },
        'quay.io': { auth: b64('org:general') },
        'quay.io/team/app': { username: 'team', password: 'specific' },
      },
    }),
  );
  const env = { env: {}, home: dir };
  const hub = await findCredential('docker.io', 'library/nginx', env, [file]);
  assert.deepEqual(hub.credential, { username: 'hub-user', password: 'hub-pass', source: file });
  assert.equal((await findCredential('quay.io', 'team/app', env, [file])).credential?.password, 'specific');
  assert.equal((await findCredential('quay.io', 'other/x', env, [file])).credential?.password, 'general');
  const none = await findCredential('ghcr.io', 'x/y', env, [join(dir, 'missing.json'), file]);
  assert.equal(none.credential, undefined);
  assert.deepEqual(none.tried, [join(dir, 'missing.json'), file]);
});

test('asks a credential helper, as Docker does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-creds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'bin'));
  const helper = join(dir, 'bin', 'docker-credential-lading-test');
  await writeFile(helper, '#!/bin/sh\nread host\n[ "$host" = "registry.lab:5000" ] || exit 1\necho \'{"Username":"robot","Secret":"from-helper"}\'\n');
  await chmod(helper, 0o755);
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ credHelpers: { 'registry.lab:5000': 'lading-test' } }));
  const path = process.env.PATH;
  process.env.PATH = `${join(dir, 'bin')}:${path}`;
  t.after(() => (process.env.PATH = path));
  const found = await findCredential('registry.lab:5000', 'app', { env: {}, home: dir }, [file]);
  assert.deepEqual(found.credential, { username: 'robot', password: 'from-helper', source: 'docker-credential-lading-test' });
  assert.deepEqual(found.tried, [file, 'docker-credential-lading-test']);
});

test('a broken auth file is an error naming the file, never its content', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-creds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.json');
  await writeFile(file, '{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}');
  await assert.rejects(findCredential('x', 'y', { env: {}, home: dir }, [file]), (error: Error) => {
    assert.equal(error.message, `credentials file ${file} is not valid JSON`);
    assert.ok(!error.message.includes('c2VjcmV0'));
    return true;
  });
});
