import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Problems, checkDescriptor, checkManifest, checkMirror, checkPlatformText, isRegistryHost, mirrorEndpointProblem } from './validate.js';

const digest = `sha256:${'a'.repeat(64)}`;

test('registry hosts: names and ports only, nothing a path or a TOML file could be steered by', () => {
  for (const ok of ['docker.io', 'registry.lab:5000', 'localhost', '127.0.0.1:5000', 'a-b.c-d.example']) assert.ok(isRegistryHost(ok), ok);
  for (const bad of ['../../tmp/x', 'x\n[host."evil"]', 'x\n/etc/shadow\ny', 'a/b', 'host:0', 'host:70000', '-x.io', 'x"y', 'x y', '', 'a'.repeat(300)]) {
    assert.equal(isRegistryHost(bad), false, JSON.stringify(bad));
  }
});

test('mirror endpoints: http(s) URLs without credentials, queries or odd characters', () => {
  assert.equal(mirrorEndpointProblem('https://harbor.site:5000'), undefined);
  assert.equal(mirrorEndpointProblem('http://10.0.0.1:5000/v2-mirror/'), undefined);
  assert.match(mirrorEndpointProblem('https://u:p@h.example')!, /credentials in the URL are not allowed.*--mirror-auth/);
  assert.doesNotMatch(mirrorEndpointProblem('https://u:hunter2@h.example')!, /hunter2/, 'the password is never repeated');
  assert.match(mirrorEndpointProblem('file:///etc/passwd')!, /only http and https/);
  assert.match(mirrorEndpointProblem('https://h.example/?x=1')!, /no query/);
  assert.match(mirrorEndpointProblem('https://h.example/a/../b')!, /path may hold only/);
  assert.match(mirrorEndpointProblem(42)!, /expected an http\(s\) URL/);
});

test('a mirror from a bundle names each bad field, escaped', () => {
  const problems = new Problems();
  assert.equal(checkMirror({ registry: 'x\n[host."evil"]', endpoints: ['https://m.example/'], skipVerify: 'no' }, 'mirrors[0]', problems), undefined);
  assert.deepEqual(problems.list, [
    'mirrors[0].registry: "x\\n[host.\\"evil\\"]" is not a registry host such as docker.io or registry.lab:5000'.replace('\\"evil\\"', '"evil"'),
    'mirrors[0].endpoints[0]: "https://m.example/" ends in "/"',
    'mirrors[0].skipVerify: expected true or false',
  ]);
});

test('descriptors: sha256 only, a real size, a media type', () => {
  const problems = new Problems();
  assert.ok(checkDescriptor({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 0 }, 'd', problems));
  for (const [bad, field] of [
    [{ mediaType: 'x/y', digest: 'sha256:../../etc/passwd', size: 1 }, 'd.digest'],
    [{ mediaType: 'x/y', digest: digest.toUpperCase(), size: 1 }, 'd.digest'],
    [{ mediaType: 'x/y', digest: `sha512:${'a'.repeat(128)}`, size: 1 }, 'd.digest'],
    [{ mediaType: 'x/y', digest, size: -1 }, 'd.size'],
    [{ mediaType: 'x/y', digest, size: 1.5 }, 'd.size'],
    [{ mediaType: 'x/y', digest, size: '1' }, 'd.size'],
    [{ mediaType: 'x/y', digest }, 'd.size'],
    [{ mediaType: 'x/y', digest, size: 2 ** 60 }, 'd.size'],
    [{ mediaType: 'not a type', digest, size: 1 }, 'd.mediaType'],
  ] as const) {
    const p = new Problems();
    assert.equal(checkDescriptor(bad, 'd', p), undefined, JSON.stringify(bad));
    assert.ok(p.list[0]?.startsWith(`${field}:`), p.list.join());
  }
});

test('manifests: config and layers checked, foreign layers refused', () => {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 1 };
  const good = { schemaVersion: 2, config: { ...layer, mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [layer] };
  assert.ok(checkManifest(good, 'm', new Problems()));
  const problems = new Problems();
  checkManifest({ ...good, layers: [{ ...layer, urls: ['https://x'] }, { ...layer, size: undefined }] }, 'm', problems);
  assert.deepEqual(problems.list, ['m.layers[0]: a foreign layer (urls): lading cannot carry it', 'm.layers[1].size: undefined is not a size in bytes']);
});

test('platforms from a bundle must be canonical text', () => {
  assert.equal(checkPlatformText('linux/arm64/v8', 'p', new Problems()), 'linux/arm64/v8');
  for (const bad of ['linux/arm64', 'linux/amd64\n', 'Linux/AMD64', 'linux/amd64/v1', 'linux/sparc', 7]) {
    assert.equal(checkPlatformText(bad, 'p', new Problems()), undefined, String(bad));
  }
});
