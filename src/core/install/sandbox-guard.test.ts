import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { BundleImage } from '../bundle/layout.js';
import { sandboxConflicts } from './sandbox-guard.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const node = { status: { images: [{ names: ['registry.k8s.io/pause:3.10', `registry.k8s.io/pause@${digest('a')}`], sizeBytes: 300_000 }, { names: ['example.com/app:1'], sizeBytes: 9 }] } } as k8s.V1Node;
const image = (name: string, d: string) => ({ name, source: name, root: { digest: d, size: 1, mediaType: 'x/y' }, platforms: [] }) as BundleImage;

test('a bundle image named as the node sandbox image with other content is a conflict', () => {
  assert.deepEqual(sandboxConflicts(node, [image('registry.k8s.io/pause:3.10', digest('b')), image('example.com/app:1', digest('c'))]), [
    { image: 'registry.k8s.io/pause:3.10', bundleDigest: digest('b'), nodeDigests: [digest('a')] },
  ]);
});

test('the same sandbox content, other images, or a node without a sandbox image are not', () => {
  assert.deepEqual(sandboxConflicts(node, [image('registry.k8s.io/pause:3.10', digest('a'))]), []);
  assert.deepEqual(sandboxConflicts(node, [image('example.com/app:1', digest('c'))]), [], 'ordinary images may be replaced (that is an update)');
  assert.deepEqual(sandboxConflicts({ status: { images: [] } } as k8s.V1Node, [image('registry.k8s.io/pause:3.10', digest('b'))]), []);
});
