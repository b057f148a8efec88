import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlatform, displayPlatform, parsePlatform, pickPlatform, platformMatches } from './platform.js';

test('parses and normalises platforms like containerd', () => {
  assert.equal(formatPlatform(parsePlatform('linux/amd64')), 'linux/amd64');
  assert.equal(formatPlatform(parsePlatform('linux/arm64')), 'linux/arm64/v8');
  assert.equal(formatPlatform(parsePlatform('linux/aarch64')), 'linux/arm64/v8');
  assert.equal(formatPlatform(parsePlatform('linux/arm')), 'linux/arm/v7');
  assert.equal(formatPlatform(parsePlatform('linux/x86_64')), 'linux/amd64');
  assert.equal(displayPlatform(parsePlatform('linux/arm64/v8')), 'linux/arm64');
});

test('rejects what is not a platform', () => {
  assert.throws(() => parsePlatform('amd64'), /os\/arch/);
  assert.throws(() => parsePlatform('linux/sparc'), /unknown architecture/);
  assert.throws(() => parsePlatform('plan9/amd64'), /unknown os/);
  assert.throws(() => parsePlatform('linux//v8'), /os\/arch/);
});

test('matches variants: arm64 is arm64/v8, arm/v6 is not arm/v7', () => {
  assert.ok(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' }));
  assert.ok(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  assert.ok(!platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }));
  assert.ok(!platformMatches(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'arm64' }));
});

test('picks the exact variant before a looser match', () => {
  const offered = [
    { id: 'v6', platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { id: 'v7', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { id: 'attestation', platform: { os: 'unknown', architecture: 'unknown' } },
  ];
  assert.equal(pickPlatform(parsePlatform('linux/arm/v7'), offered)?.id, 'v7');
  assert.equal(pickPlatform(parsePlatform('linux/amd64'), offered), undefined);
});
