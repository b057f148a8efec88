import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import type { TaskRow } from '../store.js';
import { plain } from '../test-helpers.js';
import { TaskList, settledCount } from './TaskList.js';

const MiB = 1024 * 1024;

function row(id: string, title: string, rest: Partial<TaskRow> = {}): TaskRow {
  return { id, title, state: 'pending', children: [], ...rest };
}

describe('TaskList', () => {
  afterEach(cleanup);

  it('shows each state with its symbol, progress, errors and skip reasons', () => {
    const tasks = [
      row('a', 'Read spec', { state: 'completed', final: true }),
      row('b', 'Pull images', {
        state: 'running',
        children: [
          row('b1', 'docker.io/library/nginx:1.27', {
            state: 'running',
            progress: { done: 20 * MiB, total: 45 * MiB, bytesPerSecond: 3.4 * MiB, etaSeconds: 7.4 },
          }),
          row('b2', 'redis:7', { state: 'failed', error: 'manifest unknown', final: true }),
          row('b3', 'busybox:1.36', { state: 'skipped', skipReason: 'already in the cache', final: true }),
          row('b4', 'alpine:3.20', { state: 'retrying', retries: 1, error: 'connection reset' }),
          row('b5', 'pause:3.9', { state: 'completed', progress: { done: 300, total: 300, bytesPerSecond: 0, etaSeconds: 0 } }),
        ],
      }),
      row('c', 'Verify', { disabled: true }),
      row('d', 'Write bundle', { output: 'not shown before it runs' }),
    ];
    const { lastFrame } = render(<TaskList tasks={tasks} />);
    assert.equal(
      plain(lastFrame()),
      `✔ Read spec
⠋ Pull images
  ⠋ docker.io/library/nginx:1.27  ████████░░░░░░░░░░░░  44%  20.0 MiB / 45.0 MiB  3.4 MiB/s  ETA 7s
  ✖ redis:7
    → manifest unknown
  ↓ busybox:1.36
    → already in the cache
  ↻ alpine:3.20 (retry 1)
    → connection reset
  ✔ pause:3.9 (300 B)
◻ Write bundle`,
    );
  });

  it('folds the subtasks of a completed task unless one of them failed', () => {
    const tasks = [
      row('a', 'Pull images', { state: 'completed', final: true, children: [row('a1', 'nginx', { state: 'completed' })] }),
      row('b', 'Pull charts', {
        state: 'completed',
        final: true,
        children: [row('b1', 'ingress', { state: 'failed', error: 'not found' }), row('b2', 'cert-manager', { state: 'completed' })],
      }),
      row('c', '', { state: 'running', children: [row('c1', 'Shown in place of its untitled parent', { state: 'running', output: 'writing layer 3/7' })] }),
    ];
    const { lastFrame } = render(<TaskList tasks={tasks} />);
    assert.equal(
      plain(lastFrame()),
      `✔ Pull images
✔ Pull charts
  ✖ ingress
    → not found
  ✔ cert-manager
⠋ Shown in place of its untitled parent
  → writing layer 3/7`,
    );
  });

  it('prints finished rows once each, in task order, even when they finish out of order', () => {
    const a = row('a', 'Pull nginx', { state: 'running' });
    const b = row('b', 'Pull redis', { state: 'running' });
    const c = row('c', 'Write bundle');
    const done = (r: TaskRow): TaskRow => ({ ...r, state: 'completed', final: true });
    const { lastFrame, rerender } = render(<TaskList tasks={[a, b, c]} />);

    rerender(<TaskList tasks={[a, done(b), c]} />);
    assert.equal(plain(lastFrame()), `⠋ Pull nginx\n✔ Pull redis\n◻ Write bundle`);
    rerender(<TaskList tasks={[done(a), done(b), c]} />);
    rerender(<TaskList tasks={[done(a), done(b), done(c)]} />);
    assert.equal(plain(lastFrame()), `✔ Pull nginx\n✔ Pull redis\n✔ Write bundle\n`);
  });
});

describe('settledCount', () => {
  it('counts final or disabled rows from the top, stopping at the first live one', () => {
    assert.equal(settledCount([]), 0);
    assert.equal(
      settledCount([
        row('a', 'a', { state: 'completed', final: true }),
        row('b', 'b', { disabled: true }),
        row('c', 'c', { state: 'completed' }),
        row('d', 'd', { state: 'completed', final: true }),
      ]),
      2,
    );
  });
});
