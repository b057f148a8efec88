/** --mirror-auth on a hosts.toml that already lists the endpoint: that host's Authorization header changes, nothing else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { AbortError, ExitCode } from '../errors.js';
import { mergeHostsToml } from './mirrors.js';

const HARBOR = 'https://harbor.site.local:5000';
const mirror = { registry: 'docker.io', endpoints: [HARBOR], skipVerify: false };
const NEW = 'Basic bmV3OnNlY3JldA==';
type Doc = { server: string; host: Record<string, Record<string, unknown> & { header?: Record<string, unknown> }> } & Record<string, unknown>;
const data = (text: string) => JSON.parse(JSON.stringify(parse(text))) as Doc;

/** Everything but `endpoint`'s header is the same; that header differs only in its Authorization value. */
function onlyAuthChanged(before: string, after: string, endpoint: string, key = 'authorization') {
  const a = data(before);
  const b = data(after);
  assert.equal(b.host[endpoint]!.header![key], NEW);
  const { header: ha, ...restA } = a.host[endpoint]!;
  const { header: hb, ...restB } = b.host[endpoint]!;
  assert.deepEqual(restB, restA, 'the host keeps its other keys');
  const { [key]: _old, ...otherA } = (ha ?? {}) as Record<string, unknown>;
  const { [key]: _new, ...otherB } = hb!;
  assert.deepEqual(otherB, otherA, 'other headers stay');
  for (const h of Object.keys(a.host)) if (h !== endpoint) assert.deepEqual(b.host[h], a.host[h], `host ${h} unchanged`);
  const { host: _ha, ...topA } = a;
  const { host: _hb, ...topB } = b;
  assert.deepEqual(topB, topA, 'server and every other key unchanged');
}

const SITE = `# site mirrors, kept by hand
server = "https://registry-1.docker.io"

[host."https://cache.site:443"]
  capabilities = ["pull"]
  ca = "/etc/site-ca.pem"
  [host."https://cache.site:443".header]
    authorization = "Basic c2l0ZTpjYWNoZQ=="
`;

test('an existing endpoint without a header gets lading\'s Authorization header; the file becomes secret', () => {
  const existing = `${SITE}\n[host."${HARBOR}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`;
  const merged = mergeHostsToml(existing, mirror, 'hosts.toml', new Map([[HARBOR, NEW]]));
  assert.equal(merged.changed, true);
  assert.equal(merged.secret, true);
  assert.ok(merged.text.startsWith(existing), 'the original text stays; the header is added after it');
  onlyAuthChanged(existing, merged.text, HARBOR);
  assert.equal(mergeHostsToml(merged.text, mirror, 'hosts.toml', new Map([[HARBOR, NEW]])).changed, false, 'the same credential again changes nothing');
});

test('a changed credential replaces the old value in place: comments, other headers and hosts stay', () => {
  const existing = `${SITE}\n# lading's mirror\n[host."${HARBOR}"]\n  capabilities = ["pull", "resolve"]\n  [host."${HARBOR}".header]\n    x-site = "lab"\n    authorization = "Basic b2xkOm9sZA=="  # rotated yearly\n\n[host."https://other.site"]\n  capabilities = ["pull"]\n`;
  const merged = mergeHostsToml(existing, mirror, 'hosts.toml', new Map([[HARBOR, NEW]]));
  assert.equal(merged.changed, true);
  assert.equal(merged.secret, true);
  assert.doesNotMatch(merged.text, /b2xkOm9sZA==/, 'the old credential is gone');
  assert.match(merged.text, /# lading's mirror\n/);
  assert.equal(merged.text.split('\n').length, existing.split('\n').length, 'one line replaced, none added');
  onlyAuthChanged(existing, merged.text, HARBOR);
});

test('the header keeps the case the file wrote it in, so no second Authorization appears', () => {
  const existing = `server = "https://registry-1.docker.io"\n[host."${HARBOR}"]\n  capabilities = ["pull"]\n[host."${HARBOR}".header]\n  "Authorization" = ["Basic b2xk"]\n`;
  const merged = mergeHostsToml(existing, mirror, 'hosts.toml', new Map([[HARBOR, NEW]]));
  onlyAuthChanged(existing, merged.text, HARBOR, 'Authorization');
  assert.deepEqual(Object.keys(data(merged.text).host[HARBOR]!.header!), ['Authorization']);
});

test('a header table lacking Authorization gets one line, inside that table', () => {
  const existing = `server = "https://registry-1.docker.io"\n[host."${HARBOR}"]\n  capabilities = ["pull"]\n[host."${HARBOR}".header]\n  x-site = "lab"\n[host."https://b.site"]\n  capabilities = ["pull"]\n`;
  const merged = mergeHostsToml(existing, mirror, 'hosts.toml', new Map([[HARBOR, NEW]]));
  onlyAuthChanged(existing, merged.text, HARBOR);
});

test('a header in a form the edit does not know (inline table) is refused, and the credential is never in the message', () => {
  const existing = `server = "https://registry-1.docker.io"\n[host."${HARBOR}"]\n  capabilities = ["pull"]\n  header = { authorization = "Basic b2xk" }\n`;
  assert.throws(
    () => mergeHostsToml(existing, mirror, 'node1:/etc/containerd/certs.d/docker.io/hosts.toml', new Map([[HARBOR, NEW]])),
    (error: unknown) => {
      assert.ok(error instanceof AbortError);
      assert.equal(error.exitCode, ExitCode.node);
      assert.match(error.message, /could not update a mirror's credentials without changing what is there/);
      assert.ok(!`${error.message} ${error.hint}`.includes(NEW) && !`${error.message} ${error.hint}`.includes('bmV3'), 'no credential printed');
      return true;
    },
  );
});

test('without --mirror-auth an existing header is left alone, and a file without headers is not secret', () => {
  const existing = `${SITE}\n[host."${HARBOR}"]\n  capabilities = ["pull", "resolve"]\n`;
  const same = mergeHostsToml(existing, mirror, 'hosts.toml');
  assert.deepEqual(same, { text: existing, changed: false, secret: true });
  const plain = mergeHostsToml('server = "https://registry-1.docker.io"\n', mirror, 'hosts.toml');
  assert.equal(plain.secret, false);
});
