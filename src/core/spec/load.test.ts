import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec, SpecError } from './load.js';
import { formatPlatform } from '../oci/platform.js';

const good = `apiVersion: lading.dev/v1alpha1
kind: Bundle
metadata: {name: demo, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/arm64]
  images:
    - docker.io/library/nginx:1.27
    - name: registry.k8s.io/pause:3.10
      platforms: [linux/amd64]
`;

test('reads the documented spec shape', () => {
  const spec = parseSpec(good, 'lading.yaml');
  assert.equal(spec.name, 'demo');
  assert.equal(spec.version, '1.0.0');
  assert.deepEqual(spec.platforms.map(formatPlatform), ['linux/amd64', 'linux/arm64/v8']);
  assert.deepEqual(spec.images.map((i) => i.name), ['docker.io/library/nginx:1.27', 'registry.k8s.io/pause:3.10']);
  assert.deepEqual(spec.images[1]?.platforms.map(formatPlatform), ['linux/amd64']);
});

test('defaults to linux/amd64', () => {
  const spec = parseSpec(`apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: a, version: "1"}\nspec:\n  images: [nginx]\n`, 'f.yaml');
  assert.deepEqual(spec.platforms.map(formatPlatform), ['linux/amd64']);
  assert.equal(spec.images[0]?.name, 'docker.io/library/nginx:latest');
});

function problems(text: string): string[] {
  try {
    parseSpec(text, 'f.yaml');
  } catch (error) {
    assert.ok(error instanceof SpecError);
    return error.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
  }
  assert.fail('expected a SpecError');
}

test('names file, line, path and expectation for each problem, all at once', () => {
  const found = problems(`apiVersion: lading.dev/v1
kind: Bundle
metadata: {name: Demo, version: 1.0.0}
spec:
  platforms: [linux/amd64, linux/sparc]
  images:
    - nginx:1.27
    - name: UPPER/case
    - 42
    - name: docker.io/library/nginx:1.27
  extra: true
`);
  assert.deepEqual(found, [
    '1:13 apiVersion: expected "lading.dev/v1alpha1", got "lading.dev/v1"',
    '3:18 metadata.name: expected a lowercase name (letters, digits, "-" and "."), e.g. "demo"',
    '11:3 spec.extra: unknown field (expected one of: platforms, images, registries, mirrors, sandbox, registry, manifests, runtime)',
    '5:28 spec.platforms[1]: invalid platform "linux/sparc": unknown architecture "sparc"',
    '8:13 spec.images[1]: invalid image reference "UPPER/case": "UPPER" is not a valid repository component (repository names must be lowercase)',
    '9:7 spec.images[2]: expected an image reference string or a mapping with name (and platforms)',
    '10:7 spec.images[3]: docker.io/library/nginx:1.27 is the same image as spec.images[0] (nginx:1.27)',
  ]);
});

test('YAML syntax errors and empty images are reported with positions', () => {
  assert.match(problems('apiVersion: [\n')[0]!, /^\d+:\d+ : /);
  const empty = problems('apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: a, version: "1"}\nspec:\n  images: []\n');
  assert.deepEqual(empty, ['5:11 spec.images: expected a non-empty list of images']);
});

test('the error message lists every problem under the file name', () => {
  assert.throws(() => parseSpec('kind: Nope\n', 'x/lading.yaml'), (error: unknown) => {
    assert.ok(error instanceof SpecError);
    assert.match(error.message, /^x\/lading\.yaml is not a valid lading spec:\n {2}x\/lading\.yaml:1:/);
    assert.equal(error.exitCode, 3);
    return true;
  });
});

test('mirrors: registry, endpoints and skipVerify, each checked', () => {
  const spec = parseSpec(
    `apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: m, version: "1"}\nspec:\n  images: [nginx]\n  mirrors:\n    - registry: docker.io\n      endpoints: [https://harbor.site:5000/]\n`,
    'm.yaml',
  );
  assert.deepEqual(spec.mirrors, [{ registry: 'docker.io', endpoints: ['https://harbor.site:5000'], skipVerify: false }]);
  assert.deepEqual(
    problems(`apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: m, version: "1"}\nspec:\n  images: [nginx]\n  mirrors:\n    - registry: docker.io\n      endpoints: [ftp://x]\n      skipVerify: yes please\n`),
    ['8:19 spec.mirrors[0].endpoints[0]: "ftp://x": only http and https mirrors are supported', '9:19 spec.mirrors[0].skipVerify: expected true or false'],
  );
});

test('mirrors and metadata that would reach a node path, a file name or a terminal are refused', () => {
  const doc = (metadata: string, mirror: string) =>
    `apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: ${metadata}\nspec:\n  images: [nginx]\n  mirrors:\n    - ${mirror}\n`;
  assert.deepEqual(problems(doc('{name: m, version: "1"}', '{registry: "../../tmp/x", endpoints: [https://m.example]}')), [
    '7:18 spec.mirrors[0].registry: expected a registry host such as docker.io or registry.lab:5000',
  ]);
  assert.deepEqual(problems(doc('{name: m, version: "1"}', '{registry: docker.io, endpoints: ["https://bob:pw@m.example"]}')), [
    '7:41 spec.mirrors[0].endpoints[0]: "https://m.example": credentials in the URL are not allowed; pass them with --mirror-auth or --mirror-auth-secret',
  ]);
  assert.deepEqual(problems(doc('{name: m, version: "1/../../x"}', '{registry: docker.io, endpoints: [https://m.example]}')), [
    '3:30 metadata.version: expected a version of letters, digits and . _ + ~ - (at most 127), e.g. "1.0.0"',
  ]);
});

test('spec.sandbox carries the nodes\' pause image: kubeadm\'s for a Kubernetes version, or one named', () => {
  const base = `apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: a, version: "1"}\nspec:\n  images: [nginx]\n`;
  const byVersion = parseSpec(`${base}  sandbox: {kubernetes: "1.34"}\n`, 'f.yaml');
  assert.equal(byVersion.sandboxImage, 'registry.k8s.io/pause:3.10.1');
  assert.deepEqual(byVersion.images.map((i) => i.name), ['docker.io/library/nginx:latest', 'registry.k8s.io/pause:3.10.1']);
  assert.equal(parseSpec(`${base}  sandbox: {kubernetes: "v1.30.2"}\n`, 'f.yaml').sandboxImage, 'registry.k8s.io/pause:3.9');
  const named = parseSpec(`${base.replace('[nginx]', '[nginx, registry.k8s.io/pause:3.10]')}  sandbox: {image: registry.k8s.io/pause:3.10}\n`, 'f.yaml');
  assert.deepEqual(named.images.map((i) => i.name), ['docker.io/library/nginx:latest', 'registry.k8s.io/pause:3.10'], 'listed once');
  assert.deepEqual(problems(`${base}  sandbox: {kubernetes: 1.30}\n`), ['6:25 spec.sandbox.kubernetes: write the version as a string ("1.3"): unquoted, YAML reads it as a number']);
  assert.deepEqual(problems(`${base}  sandbox: {kubernetes: "1.19"}\n`), ['6:25 spec.sandbox.kubernetes: expected a Kubernetes version from 1.26 to 1.35 (as a string: "1.34"); for another, name the image with sandbox.image']);
  assert.deepEqual(problems(`${base}  sandbox: {kubernetes: "1.34", image: x}\n`), ['6:12 spec.sandbox: expected exactly one of kubernetes (e.g. "1.34") or image (e.g. registry.k8s.io/pause:3.10)']);
  assert.deepEqual(problems(`${base}  sandbox: {image: "UPPER/x"}\n`).length, 1);
});

test('spec.registry names the registry image of registry mode (carried like any image) and its port', () => {
  const base = `apiVersion: lading.dev/v1alpha1\nkind: Bundle\nmetadata: {name: a, version: "1"}\nspec:\n  images: [nginx]\n`;
  const spec = parseSpec(`${base}  registry: {image: docker.io/library/registry:2.8.3}\n`, 'f.yaml');
  assert.deepEqual(spec.registry, { image: 'docker.io/library/registry:2.8.3', port: 5000 });
  assert.deepEqual(spec.images.map((i) => i.name), ['docker.io/library/nginx:latest', 'docker.io/library/registry:2.8.3']);
  assert.deepEqual(parseSpec(`${base}  registry: {image: registry:2.8.3, port: 5443}\n`, 'f.yaml').registry, { image: 'docker.io/library/registry:2.8.3', port: 5443 });
  assert.deepEqual(problems(`${base}  registry: {port: 0}\n`), ['6:20 spec.registry.port: expected a port number from 1 to 65535', '6:13 spec.registry.image: expected the registry image, e.g. docker.io/library/registry:2.8.3']);
});
