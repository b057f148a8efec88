import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { CreateSummary } from '../../core/bundle/summary.js';
import { plain } from '../test-helpers.js';
import { Summary } from './Summary.js';

const MiB = 1024 * 1024;
const summary: CreateSummary = {
  bundlePath: 'out/demo.lading.tar',
  bundleBytes: 345 * MiB,
  bundleSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  images: 3,
  platforms: ['linux/amd64', 'linux/arm64'],
  uniqueLayers: 12,
  totalLayerBytes: 500 * MiB,
  uniqueLayerBytes: 380 * MiB,
  savedBytes: 120 * MiB,
  downloadedBytes: 200 * MiB,
  durationMs: 65_000,
  imageList: [
    { reference: 'docker.io/library/nginx:1.27', digest: `sha256:${'a1'.repeat(32)}`, platforms: ['linux/amd64', 'linux/arm64'], bytes: 190 * MiB },
    { reference: 'registry.k8s.io/pause:3.10', digest: `sha256:${'b2'.repeat(32)}`, platforms: ['linux/amd64'], bytes: 311 * 1024 },
    { reference: 'quay.io/org/app:2.0', digest: `sha256:${'c3'.repeat(32)}`, platforms: ['linux/amd64', 'linux/arm64'], bytes: 155 * MiB },
  ],
};

describe('Summary', () => {
  afterEach(cleanup);

  it('lists what went into the bundle', () => {
    const { lastFrame } = render(<Summary summary={summary} />);
    assert.equal(
      plain(lastFrame()),
      `
✔ Bundle created
  Bundle      out/demo.lading.tar
  Images      3 (linux/amd64, linux/arm64)
  Layers      12 unique, 380 MiB, 120 MiB saved by sharing
  Downloaded  200 MiB
  Size        345 MiB
  sha256      e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  Duration    1m05s

  docker.io/library/nginx:1.27  sha256:a1a1a1a1a1a1…  linux/amd64, linux/arm64  190 MiB
  registry.k8s.io/pause:3.10    sha256:b2b2b2b2b2b2…  linux/amd64               311 KiB
  quay.io/org/app:2.0           sha256:c3c3c3c3c3c3…  linux/amd64, linux/arm64  155 MiB`,
    );
  });

  it('keeps each image on its line whole: an escape sequence in a reference is shown, not sent', () => {
    const { lastFrame } = render(
      <Summary summary={{ ...summary, imageList: [{ reference: 'evil.io/x:1\u001b[2J', digest: `sha256:${'d4'.repeat(32)}`, platforms: ['linux/amd64'], bytes: 1 }] }} />,
    );
    const last = plain(lastFrame()).split('\n').at(-1);
    assert.equal(last, '  evil.io/x:1\\e[2J  sha256:d4d4d4d4d4d4…  linux/amd64  1 B');
  });

  it('keeps digests whole when the lines fit the terminal', () => {
    const { lastFrame } = render(<Summary summary={{ ...summary, imageList: [{ reference: 'a/b:1', digest: `sha256:${'e5'.repeat(32)}`, platforms: ['linux/amd64'], bytes: 1 }] }} />);
    assert.equal(plain(lastFrame()).split('\n').at(-1), `  a/b:1  sha256:${'e5'.repeat(32)}  linux/amd64  1 B`);
  });

  it('says nothing about sharing when nothing was shared', () => {
    const { lastFrame } = render(
      <Summary summary={{ ...summary, images: 1, platforms: [], savedBytes: 0, uniqueLayers: 3, uniqueLayerBytes: 2048 }} />,
    );
    const lines = plain(lastFrame()).split('\n');
    assert.deepEqual(lines.slice(3, 5), ['  Images      1', '  Layers      3 unique, 2.0 KiB']);
  });
});
