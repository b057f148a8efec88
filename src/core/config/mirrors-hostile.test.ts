/** lading.json mirrors are untrusted: a value that is not a registry host or a plain URL never reaches a path or a TOML file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { AbortError, ExitCode } from '../errors.js';
import { printable } from '../util/printable.js';
import { crioMirrorsDropIn, hostsTomlPath, mergeHostsToml } from './mirrors.js';
import { render } from './templates.js';

const HOSTILE_REGISTRIES = [
  '../../../../tmp/x',
  'x\n[host."evil"]',
  'x\n/some/file\ny',
  'quote"d.io',
  'back\\slash.io',
  'régistry.io',
  'evil\u202e.io',
  'a'.repeat(300),
  'docker.io/../../etc',
  '.',
  '..',
  '',
  'registry.lab:99999',
  '/etc/containerd',
];

function refusedAsBundle(value: string) {
  return (error: unknown) => {
    assert.ok(error instanceof AbortError, String(error));
    assert.equal(error.exitCode, ExitCode.bundle);
    assert.ok(error.message.includes(printable(value.slice(0, 200))), `message names the value escaped: ${error.message}`);
    assert.doesNotMatch(error.message, /[\u0000-\u001f\u007f\u202e]/, 'no raw control or bidi character in the message');
    return true;
  };
}

test('hostsTomlPath refuses every registry that is not a host name, naming it escaped (exit 7)', () => {
  for (const registry of HOSTILE_REGISTRIES) {
    assert.throws(() => hostsTomlPath('/etc/containerd/certs.d', registry), refusedAsBundle(registry), JSON.stringify(registry));
  }
  assert.equal(hostsTomlPath('/etc/containerd/certs.d', 'registry.lab:5000'), '/etc/containerd/certs.d/registry.lab:5000/hosts.toml');
});

test('mergeHostsToml and the CRI-O drop-in refuse the same registries before rendering anything', () => {
  for (const registry of HOSTILE_REGISTRIES) {
    const mirror = { registry, endpoints: ['https://m.site:5000'], skipVerify: false };
    assert.throws(() => mergeHostsToml(undefined, mirror, 'hosts.toml'), refusedAsBundle(registry));
    assert.throws(() => mergeHostsToml('server = "https://x"\n', mirror, 'hosts.toml'), refusedAsBundle(registry));
    assert.throws(() => crioMirrorsDropIn([mirror]), refusedAsBundle(registry));
  }
});

test('endpoints that are not plain http(s) URLs are refused too (exit 7)', () => {
  for (const endpoint of ['https://m.site/"]\n[host."evil"]', 'file:///etc/passwd', 'https://user:pw@m.site', 'https://m.site/a\\b', 'https://m.site/', 'https://m.site/?q=1']) {
    const mirror = { registry: 'docker.io', endpoints: [endpoint], skipVerify: false };
    assert.throws(() => mergeHostsToml(undefined, mirror, 'hosts.toml'), (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.bundle, JSON.stringify(endpoint));
    assert.throws(() => crioMirrorsDropIn([mirror]), (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.bundle);
  }
});

test('a placeholder sharing its line with other text (the comment, a key) cannot take a line break', () => {
  assert.throws(() => render('containerd/hosts.toml', { registry: 'x\n[host."evil"]', server: '"https://x"', hosts: '' }), /holds a control character/);
  assert.throws(() => render('containerd/host.toml', { endpoint: '"a"]\n[b', options: '' }), /holds a control character/);
  // A placeholder alone on its line takes whole rendered blocks.
  assert.match(render('containerd/hosts.toml', { registry: 'docker.io', server: '"https://x"', hosts: '[host."a"]\n  x = 1\n' }), /\[host\."a"\]\n {2}x = 1/);
});
