import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, isLoopbackRegistry, isRepositoryPath, isTag, parseReference, registryApiHost } from './reference.js';

test('normalises short Docker Hub names as Docker does', () => {
  assert.equal(formatReference(parseReference('nginx')), 'docker.io/library/nginx:latest');
  assert.equal(formatReference(parseReference('nginx:1.27')), 'docker.io/library/nginx:1.27');
  assert.equal(formatReference(parseReference('bitnami/redis:7')), 'docker.io/bitnami/redis:7');
  assert.equal(formatReference(parseReference('index.docker.io/library/alpine')), 'docker.io/library/alpine:latest');
});

test('keeps registries with dots, ports or localhost', () => {
  const ref = parseReference('127.0.0.1:5000/demo/web:1.0');
  assert.deepEqual(ref, { registry: '127.0.0.1:5000', repository: 'demo/web', tag: '1.0', digest: undefined });
  assert.equal(parseReference('localhost/app').registry, 'localhost');
  assert.equal(parseReference('registry.k8s.io/pause:3.10').repository, 'pause');
  assert.equal(parseReference('[::1]:5000/x:y').registry, '[::1]:5000');
});

test('digests pin references, with or without a tag', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.equal(formatReference(parseReference(`nginx@${digest}`)), `docker.io/library/nginx@${digest}`);
  const both = parseReference(`nginx:1.27@${digest}`);
  assert.equal(both.tag, '1.27');
  assert.equal(both.digest, digest);
});

test('rejects malformed references with a reason', () => {
  assert.throws(() => parseReference(''), /is empty/);
  assert.throws(() => parseReference('Nginx'), /lowercase/);
  assert.throws(() => parseReference('nginx:'), /not a valid tag/);
  assert.throws(() => parseReference('nginx@sha256:abc'), /not a digest|64 lowercase/);
  assert.throws(() => parseReference('a//b'), /repository path is empty/);
  assert.throws(() => parseReference('host.io/'), /repository path is empty/);
});

test('Docker Hub API host and loopback detection', () => {
  assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryApiHost('quay.io'), 'quay.io');
  assert.ok(isLoopbackRegistry('127.0.0.1:5000'));
  assert.ok(isLoopbackRegistry('localhost:5000'));
  assert.ok(isLoopbackRegistry('[::1]:5000'));
  assert.ok(!isLoopbackRegistry('10.0.0.1:5000'));
  assert.ok(!isLoopbackRegistry('registry.lab'));
});

describe('names a registry lists', () => {
  it('takes repository paths and tags the distribution spec allows, and nothing that could leave a URL path', () => {
    for (const ok of ['library/nginx', 'e2e/registry-app', 'a', 'lading/registry', 'a.b_c__d-e/f']) assert.ok(isRepositoryPath(ok), ok);
    for (const bad of ['../../api/v1/secrets', 'a/../b', 'a?x=1', 'a%2F..', 'A/upper', '', 'a//b', '/a', 'a/', `${'a'.repeat(256)}`]) assert.ok(!isRepositoryPath(bad), bad);
    for (const ok of ['1', 'v1.2.3', 'latest', '_x']) assert.ok(isTag(ok), ok);
    for (const bad of ['..', '.x', 'a/b', 'a?b', '', 'x'.repeat(129)]) assert.ok(!isTag(bad), bad);
  });
});
