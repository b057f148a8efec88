import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { plain } from '../test-helpers.js';
import { ProgressRow } from './ProgressRow.js';

const MiB = 1024 * 1024;

describe('ProgressRow', () => {
  afterEach(cleanup);

  it('shows title, bar, bytes, throughput and ETA on one line', () => {
    const { lastFrame } = render(
      <ProgressRow
        title="docker.io/library/nginx:1.27"
        progress={{ done: 20 * MiB, total: 45 * MiB, bytesPerSecond: 3.4 * MiB, etaSeconds: 7.4 }}
      />,
    );
    assert.equal(
      plain(lastFrame()),
      `docker.io/library/nginx:1.27  ████████░░░░░░░░░░░░  44%  20.0 MiB / 45.0 MiB  3.4 MiB/s  ETA 7s`,
    );
  });

  it('shortens a long title instead of wrapping the numbers', () => {
    const { lastFrame } = render(
      <ProgressRow
        title={`registry.internal.example.com/platform/${'very-long-name-'.repeat(5)}:1.0`}
        progress={{ done: 1 * MiB, total: 4 * MiB, bytesPerSecond: 0, etaSeconds: undefined }}
        barWidth={10}
      />,
    );
    assert.equal(
      plain(lastFrame()),
      `registry.internal.example.com/pl…y-long-name-very-long-name-:1.0  ██░░░░░░░░  25%  1.0 MiB / 4.0 MiB`,
    );
  });
});
