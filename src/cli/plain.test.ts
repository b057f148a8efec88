import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CreateSummary } from '../core/bundle/summary.js';
import { createSummaryLines } from './plain.js';

const summary: CreateSummary = {
  bundlePath: '/tmp/site.lading.tar',
  bundleBytes: 3 << 20,
  bundleSha256: 'ab'.repeat(32),
  images: 2,
  platforms: ['linux/amd64', 'linux/arm64'],
  uniqueLayers: 3,
  totalLayerBytes: 4 << 20,
  uniqueLayerBytes: 3 << 20,
  savedBytes: 1 << 20,
  downloadedBytes: 3 << 20,
  durationMs: 2000,
  imageList: [
    { reference: 'docker.io/library/nginx:1.27', digest: `sha256:${'a1'.repeat(32)}`, platforms: ['linux/amd64', 'linux/arm64'], bytes: 2 << 20 },
    { reference: 'registry.k8s.io/pause:3.10\u001b]0;x\u0007', digest: `sha256:${'b2'.repeat(32)}`, platforms: ['linux/amd64'], bytes: 700 },
  ],
};

test('plain create summary ends with one line per image: reference, whole digest, platforms, size', () => {
  const lines = createSummaryLines(summary);
  assert.deepEqual(lines.slice(-3), [
    '',
    `  docker.io/library/nginx:1.27          sha256:${'a1'.repeat(32)}  linux/amd64, linux/arm64  2.0 MiB`,
    `  registry.k8s.io/pause:3.10\\e]0;x\\x07  sha256:${'b2'.repeat(32)}  linux/amd64                 700 B`,
  ]);
});

test('a summary without the per-image list (older callers) has no image block', () => {
  const { imageList: _, ...rest } = summary;
  assert.equal(createSummaryLines(rest).at(-1)?.startsWith('Fetched'), true);
});
