import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Listr, type ListrTaskObject } from 'listr2';
import { ProgressHub } from '../core/progress.js';
import { StoreRenderer } from './listr-renderer.js';
import { createTaskStore, type TaskRow, type TaskStoreState } from './store.js';

type AnyTask = ListrTaskObject<any, any, any>;

/** Rows without the random listr2 ids, so expectations can be literal. */
function withoutIds(rows: readonly TaskRow[]): unknown[] {
  return rows.map(({ id: _id, children, ...rest }) => ({ ...rest, children: withoutIds(children) }));
}

/** Listeners still attached to these tasks and their subtasks (listr2 keeps its emitter in a plain field). */
function listenerCount(tasks: readonly AnyTask[]): number {
  let count = 0;
  for (const task of tasks) {
    const emitter = (task as unknown as { emitter: NodeJS.EventEmitter }).emitter;
    for (const name of emitter.eventNames()) count += emitter.listenerCount(name);
    count += listenerCount(task.subtasks ?? []);
  }
  return count;
}

function buildRun() {
  const store = createTaskStore();
  const hub = new ProgressHub();
  let attempts = 0;
  const list = new Listr(
    [
      {
        title: 'Read spec',
        task: (_ctx, task) => {
          task.output = 'lading.yaml';
        },
      },
      {
        title: 'Pull images',
        task: (_ctx, task) =>
          task.newListr(
            [
              {
                title: 'nginx',
                rendererOptions: { progressKey: 'docker.io/library/nginx:1.27' },
                task: async () => {
                  hub.publish({ key: 'docker.io/library/nginx:1.27', progress: progress(512) });
                  await new Promise((resolve) => setTimeout(resolve, 5));
                  hub.publish({ key: 'docker.io/library/nginx:1.27', progress: progress(1024) });
                },
              },
              {
                title: 'redis',
                task: async () => {
                  throw new Error('manifest unknown');
                },
              },
              { title: 'busybox', skip: () => 'already in the cache', task: () => {} },
            ],
            { concurrent: true, exitOnError: false },
          ),
      },
      { title: 'Verify', enabled: false, task: () => {} },
      {
        title: 'Flaky',
        retry: 1,
        task: (_ctx, task) => {
          attempts++;
          if (attempts === 1) throw new Error('connection reset');
          task.title = 'Flaky (recovered)';
        },
      },
      {
        title: 'Write bundle',
        task: () => {
          throw new Error('disk full');
        },
      },
    ],
    {
      renderer: StoreRenderer,
      rendererOptions: { store },
      exitOnError: false,
      registerSignalListeners: false,
    },
  );
  return { store, hub, list };
}

const progress = (done: number) => ({ done, total: 1024, bytesPerSecond: 0, etaSeconds: undefined });

describe('StoreRenderer', () => {
  it('mirrors a real listr2 run into the store and leaves no listeners behind', async () => {
    const { store, hub, list } = buildRun();
    const detach = store.attachProgress(hub);
    const seen: TaskStoreState[] = [];
    store.subscribe(() => seen.push(store.getSnapshot()));

    await list.run();
    detach();

    assert.deepEqual(withoutIds(store.getSnapshot().tasks), [
      { title: 'Read spec', state: 'completed', output: 'lading.yaml', final: true, children: [] },
      {
        title: 'Pull images',
        state: 'completed',
        final: true,
        children: [
          {
            title: 'nginx',
            state: 'completed',
            progressKey: 'docker.io/library/nginx:1.27',
            progress: progress(1024),
            final: true,
            children: [],
          },
          { title: 'redis', state: 'failed', error: 'manifest unknown', final: true, children: [] },
          { title: 'busybox', state: 'skipped', skipReason: 'already in the cache', final: true, children: [] },
        ],
      },
      { title: 'Verify', state: 'pending', disabled: true, children: [] },
      { title: 'Flaky (recovered)', state: 'completed', final: true, children: [] },
      { title: 'Write bundle', state: 'failed', error: 'disk full', final: true, children: [] },
    ]);

    // The retry was visible while it happened.
    const retrying = seen.map((s) => s.tasks[3]).find((row) => row?.state === 'retrying');
    assert.deepEqual(retrying && { state: retrying.state, error: retrying.error, retries: retrying.retries }, {
      state: 'retrying',
      error: 'connection reset',
      retries: 1,
    });

    assert.equal(listenerCount(list.tasks), 0);
  });

  it('stays the renderer when stdout is not a terminal (listr2 would otherwise swap in one that prints)', async () => {
    const wasTTY = process.stdout.isTTY;
    process.stdout.isTTY = false;
    try {
      const { store, list } = buildRun();
      assert.equal(list.rendererClass, StoreRenderer);
      await list.run();
      assert.equal(store.getSnapshot().tasks.length, 5);
    } finally {
      process.stdout.isTTY = wasTTY;
    }
  });

  it('cleans up too when the run stops at the first error', async () => {
    const store = createTaskStore();
    const list = new Listr(
      [
        { title: 'Resolve', task: () => Promise.reject(new Error('401 Unauthorized')) },
        { title: 'Never reached', task: () => {} },
      ],
      { renderer: StoreRenderer, rendererOptions: { store }, registerSignalListeners: false },
    );
    await assert.rejects(list.run(), /401 Unauthorized/);
    assert.deepEqual(withoutIds(store.getSnapshot().tasks), [
      { title: 'Resolve', state: 'failed', error: '401 Unauthorized', final: true, children: [] },
      { title: 'Never reached', state: 'pending', children: [] },
    ]);
    assert.equal(listenerCount(list.tasks), 0);
  });

  it('refuses to run without a store', () => {
    assert.throws(() => new StoreRenderer([], {} as never), /needs rendererOptions/);
  });
});
