import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressHub, type ByteProgress } from '../core/progress.js';
import { createTaskStore, type TaskStore } from './store.js';

const progress = (done: number, total = 100): ByteProgress => ({ done, total, bytesPerSecond: 0, etaSeconds: undefined });

function counting(store: TaskStore): { count: () => number } {
  let calls = 0;
  store.subscribe(() => calls++);
  return { count: () => calls };
}

describe('task store snapshots', () => {
  it('returns the same object until something changes, and never mutates an old one', () => {
    const store = createTaskStore();
    const empty = store.getSnapshot();
    assert.equal(store.getSnapshot(), empty);

    store.addTasks([
      { id: 'a', title: 'Read spec' },
      { id: 'b', title: 'Pull images' },
    ]);
    const added = store.getSnapshot();
    assert.notEqual(added, empty);
    assert.deepEqual(empty, { tasks: [] });

    store.addTasks([{ id: 'b1', title: 'nginx', progressKey: 'nginx' }], 'b');
    const nested = store.getSnapshot();
    store.updateTask('b1', { state: 'running' });
    const running = store.getSnapshot();

    assert.equal(running.tasks[0], nested.tasks[0], 'an untouched row keeps its identity');
    assert.notEqual(running.tasks[1], nested.tasks[1], 'the parent of a changed row is copied');
    assert.equal(nested.tasks[1]!.children[0]!.state, 'pending', 'the previous snapshot still says pending');
    assert.deepEqual(running.tasks, [
      { id: 'a', title: 'Read spec', state: 'pending', children: [] },
      {
        id: 'b',
        title: 'Pull images',
        state: 'pending',
        children: [{ id: 'b1', title: 'nginx', state: 'running', progressKey: 'nginx', children: [] }],
      },
    ]);
  });

  it('ignores updates that change nothing and removes fields set to undefined', () => {
    const store = createTaskStore();
    store.addTasks([{ id: 'a', title: 'Pull' }]);
    store.updateTask('a', { state: 'failed', error: 'boom' });
    const calls = counting(store);
    const before = store.getSnapshot();

    store.updateTask('a', { state: 'failed', error: 'boom', output: undefined });
    store.updateTask('missing', { state: 'running' });
    store.flush();
    assert.equal(store.getSnapshot(), before);
    assert.equal(calls.count(), 0);

    store.updateTask('a', { state: 'running', error: undefined });
    assert.deepEqual(store.getSnapshot().tasks[0], { id: 'a', title: 'Pull', state: 'running', children: [] });
  });

  it('replaces the children of a retried task', () => {
    const store = createTaskStore();
    store.addTasks([{ id: 'p', title: 'Pull' }]);
    store.addTasks([{ id: 'old', title: 'old layer', progressKey: 'k' }], 'p');
    store.replaceChildren('p', [{ id: 'new', title: 'new layer' }]);
    store.setProgress('k', progress(5));
    store.updateTask('old', { state: 'failed' });
    store.flush();
    assert.deepEqual(store.getSnapshot().tasks[0]!.children, [
      { id: 'new', title: 'new layer', state: 'pending', children: [] },
    ]);
  });

  it('keeps summary and error, and drops them again', () => {
    const store = createTaskStore();
    store.setError({ message: 'registry unreachable', hint: 'check the proxy' });
    assert.deepEqual(store.getSnapshot(), { tasks: [], error: { message: 'registry unreachable', hint: 'check the proxy' } });
    store.setError(undefined);
    assert.deepEqual(store.getSnapshot(), { tasks: [] });
  });
});

describe('task store throttling', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('coalesces a burst of progress into one notification carrying the last value', () => {
    const store = createTaskStore({ throttleMs: 100 });
    store.addTasks([{ id: 'a', title: 'nginx', state: 'running', progressKey: 'nginx' }]);
    const calls = counting(store);
    const before = store.getSnapshot();

    for (let done = 1; done <= 1000; done++) store.setProgress('nginx', progress(done, 1000));
    assert.equal(calls.count(), 0);
    assert.equal(store.getSnapshot(), before, 'readers keep the published snapshot until the flush');

    mock.timers.tick(99);
    assert.equal(calls.count(), 0);
    mock.timers.tick(1);
    assert.equal(calls.count(), 1);
    assert.deepEqual(store.getSnapshot().tasks[0]!.progress, progress(1000, 1000));

    mock.timers.tick(1000);
    assert.equal(calls.count(), 1, 'no notification without a change');
  });

  it('publishes pending progress at once when a state changes, and on flush()', () => {
    const store = createTaskStore({ throttleMs: 100 });
    store.addTasks([
      { id: 'a', title: 'nginx', state: 'running', progressKey: 'nginx' },
      { id: 'b', title: 'redis', state: 'running', progressKey: 'redis' },
    ]);
    const calls = counting(store);

    store.setProgress('nginx', progress(100));
    store.updateTask('a', { state: 'completed' });
    assert.equal(calls.count(), 1);
    assert.deepEqual(store.getSnapshot().tasks[0], {
      id: 'a',
      title: 'nginx',
      state: 'completed',
      progressKey: 'nginx',
      progress: progress(100),
      children: [],
    });

    store.setProgress('redis', progress(42));
    store.updateTask('b', { output: 'copying' });
    store.flush();
    assert.equal(calls.count(), 2);
    assert.equal(store.getSnapshot().tasks[1]!.progress?.done, 42);
    assert.equal(store.getSnapshot().tasks[1]!.output, 'copying');
    mock.timers.tick(200);
    assert.equal(calls.count(), 2, 'the flushed timer does not fire again');
  });
});

describe('task store progress', () => {
  it('copies progress from a hub to every row with that key, including rows added later', () => {
    const store = createTaskStore();
    const hub = new ProgressHub();
    const detach = store.attachProgress(hub);
    store.addTasks([{ id: 'p', title: 'Pull', state: 'running' }]);
    store.addTasks([{ id: 'n', title: 'nginx', progressKey: 'docker.io/nginx:1' }], 'p');

    hub.publish({ key: 'docker.io/nginx:1', progress: progress(10) });
    hub.publish({ key: 'unrelated', progress: progress(99) });
    store.addTasks([{ id: 'again', title: 'nginx again', progressKey: 'docker.io/nginx:1' }]);
    store.flush();
    assert.equal(store.getSnapshot().tasks[0]!.children[0]!.progress?.done, 10);
    assert.equal(store.getSnapshot().tasks[1]!.progress?.done, 10);
    assert.equal(store.getSnapshot().tasks[0]!.progress, undefined);

    detach();
    hub.publish({ key: 'docker.io/nginx:1', progress: progress(50) });
    store.flush();
    assert.equal(store.getSnapshot().tasks[1]!.progress?.done, 10, 'no updates after detaching');
  });
});
