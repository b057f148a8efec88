import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRedirect } from './redirects.js';

const loopbackOnly = (host: string) => /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host);
const from = (url: string) => new URL(url);

test('credentials stay on the same origin only', () => {
  const origin = from('https://registry.lab/v2/app/manifests/1');
  assert.deepEqual(decideRedirect(origin, '/v2/other', loopbackOnly), { follow: true, url: new URL('https://registry.lab/v2/other'), keepAuth: true });
  const cases: Array<[string, string]> = [
    ['https://registry.lab:8443/v2/x', 'another port'],
    ['https://cdn.registry.lab/v2/x', 'another host'],
    ['https://REGISTRY.lab.evil/v2/x', 'a look-alike host'],
  ];
  for (const [location, what] of cases) {
    const decision = decideRedirect(origin, location, loopbackOnly);
    assert.ok(decision.follow, what);
    assert.equal(decision.follow && decision.keepAuth, false, what);
  }
});

test('https -> http on the same host (URL.host equal, origin not) never carries credentials', () => {
  // The old rule compared url.host: "registry.lab" === "registry.lab" for https://registry.lab and http://registry.lab.
  const decision = decideRedirect(from('https://localhost/v2/'), 'http://localhost/v2/x', loopbackOnly);
  assert.deepEqual(decision, { follow: true, url: new URL('http://localhost/v2/x'), keepAuth: false });
  const samePort = decideRedirect(from('https://127.0.0.1:5000/v2/'), 'http://127.0.0.1:5000/v2/x', loopbackOnly);
  assert.equal(samePort.follow && samePort.keepAuth, false);
});

test('https -> http is refused unless the target host may speak plain HTTP', () => {
  const decision = decideRedirect(from('https://registry.lab/v2/'), 'http://registry.lab/v2/x', loopbackOnly);
  assert.deepEqual(decision, { follow: false, reason: 'a redirect from HTTPS to plain HTTP (http://registry.lab)' });
  const allowed = decideRedirect(from('https://registry.lab/v2/'), 'http://registry.lab/v2/x', () => true);
  assert.equal(allowed.follow, true);
  // A registry already on plain HTTP (allowed for it) downgrades nothing.
  assert.equal(decideRedirect(from('http://127.0.0.1:5000/v2/'), 'http://storage.lab/b', loopbackOnly).follow, true);
});

test('unusable targets are refused with a printable reason', () => {
  const origin = from('https://registry.lab/v2/');
  assert.deepEqual(decideRedirect(origin, 'file:///etc/passwd', loopbackOnly), { follow: false, reason: 'a redirect to a file: URL' });
  assert.deepEqual(decideRedirect(origin, 'https://user:pw@cdn.lab/x', loopbackOnly), { follow: false, reason: 'a redirect to a URL with credentials in it (cdn.lab)' });
  assert.deepEqual(decideRedirect(origin, 'http://[bad\u001b', loopbackOnly), { follow: false, reason: 'a redirect to an invalid URL "http://[bad\\e"' });
});
