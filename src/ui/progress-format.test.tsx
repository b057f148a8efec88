import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { progressBar, progressStats } from './progress-format.js';

const MiB = 1024 * 1024;

describe('progress formatting', () => {
  it('draws a bar of fixed width that is full only when done', () => {
    assert.equal(progressBar({ done: 0, total: 100, bytesPerSecond: 0, etaSeconds: undefined }, 10), '░░░░░░░░░░');
    assert.equal(progressBar({ done: 99, total: 100, bytesPerSecond: 0, etaSeconds: undefined }, 10), '█████████░');
    assert.equal(progressBar({ done: 100, total: 100, bytesPerSecond: 0, etaSeconds: 0 }, 10), '██████████');
    assert.equal(progressBar({ done: 5, total: 0, bytesPerSecond: 0, etaSeconds: undefined }, 10), '░░░░░░░░░░');
  });

  it('shows bytes, then rate and ETA only once they are known', () => {
    assert.equal(
      progressStats({ done: 20 * MiB, total: 45 * MiB, bytesPerSecond: 3.4 * MiB, etaSeconds: 7.4 }),
      ' 44%  20.0 MiB / 45.0 MiB  3.4 MiB/s  ETA 7s',
    );
    assert.equal(
      progressStats({ done: 512, total: 2048, bytesPerSecond: 0, etaSeconds: undefined }),
      ' 25%  512 B / 2.0 KiB',
    );
    assert.equal(progressStats({ done: 1000, total: 3000, bytesPerSecond: 333.333, etaSeconds: 6 }), ' 33%  1000 B / 2.9 KiB  333 B/s  ETA 6s');
  });

  it('drops rate and ETA when the work is done', () => {
    assert.equal(progressStats({ done: 45 * MiB, total: 45 * MiB, bytesPerSecond: 3 * MiB, etaSeconds: 0 }), '100%  45.0 MiB / 45.0 MiB');
  });
});
