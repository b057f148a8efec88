import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spaceNeeded, spaceShortfall } from './disk-space.js';

const GiB = 2 ** 30;

describe('spaceShortfall', () => {
  it('lets an import through when twice the archive fits and the GC threshold is kept', () => {
    assert.equal(spaceShortfall({ available: 40 * GiB, size: 100 * GiB }, 10 * GiB, 15), undefined);
  });

  it('refuses when the import itself does not fit, naming the sizes', () => {
    assert.equal(spaceNeeded(GiB), 2 * GiB + 256 * 2 ** 20);
    assert.equal(spaceShortfall({ available: 2 * GiB, size: 100 * GiB }, GiB, 0), '2.0 GiB free of 100 GiB, the import needs about 2.3 GiB');
  });

  it('refuses when the import would push the filesystem past the kubelet image GC threshold', () => {
    // 20 GiB free of 100: after 2 x 5 GiB + margin only ~9.75 GiB would stay free, under the 15 GiB kept.
    assert.equal(
      spaceShortfall({ available: 20 * GiB, size: 100 * GiB }, 5 * GiB, 15),
      '20.0 GiB free of 100 GiB, the import needs about 10.3 GiB and 15 % (15.0 GiB) must stay free',
    );
    assert.equal(spaceShortfall({ available: 20 * GiB, size: 100 * GiB }, 5 * GiB, 0), undefined);
  });
});
