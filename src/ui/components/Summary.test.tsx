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
  Duration    1m05s`,
    );
  });

  it('says nothing about sharing when nothing was shared', () => {
    const { lastFrame } = render(
      <Summary summary={{ ...summary, images: 1, platforms: [], savedBytes: 0, uniqueLayers: 3, uniqueLayerBytes: 2048 }} />,
    );
    const lines = plain(lastFrame()).split('\n');
    assert.deepEqual(lines.slice(3, 5), ['  Images      1', '  Layers      3 unique, 2.0 KiB']);
  });
});
