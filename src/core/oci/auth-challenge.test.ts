import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthChallenges } from './auth-challenge.js';

test('parses a Bearer challenge with quoted params containing commas', () => {
  const [c] = parseAuthChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"');
  assert.equal(c?.scheme, 'bearer');
  assert.deepEqual(c?.params, { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull,push' });
});

test('parses Basic and several challenges in one header', () => {
  const challenges = parseAuthChallenges(['Basic realm="Registry Realm"', 'Bearer realm="https://x/token"']);
  assert.deepEqual(challenges.map((c) => c.scheme), ['basic', 'bearer']);
  assert.equal(challenges[0]?.params.realm, 'Registry Realm');
  assert.deepEqual(parseAuthChallenges(undefined), []);
});
