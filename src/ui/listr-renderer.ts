/**
 * A listr2 renderer that renders nothing: it mirrors listr2's task events into a
 * TaskStore, and views (Ink, plain text, JSON) read the store. It never writes
 * to stdout or stderr.
 */
import { printableLines } from '../core/util/printable.js';
import { ListrTaskEventType, ListrTaskState } from 'listr2';
import type { ListrRenderer, ListrRendererTask } from 'listr2';
import { BugError } from '../core/errors.js';
import type { NewTaskRow, TaskPatch, TaskState, TaskStore } from './store.js';

export interface StoreRendererOptions {
  store: TaskStore;
}

export interface StoreRendererTaskOptions {
  /** Key under which core publishes this task's byte progress on a ProgressHub. */
  progressKey?: string;
}

type StoreTask = ListrRendererTask<typeof StoreRenderer>;

const STATES: Record<ListrTaskState, TaskState> = {
  [ListrTaskState.WAITING]: 'pending',
  [ListrTaskState.STARTED]: 'running',
  [ListrTaskState.COMPLETED]: 'completed',
  [ListrTaskState.FAILED]: 'failed',
  [ListrTaskState.SKIPPED]: 'skipped',
  [ListrTaskState.ROLLING_BACK]: 'rolling-back',
  [ListrTaskState.ROLLED_BACK]: 'rolled-back',
  [ListrTaskState.RETRY]: 'retrying',
  [ListrTaskState.PAUSED]: 'paused',
  [ListrTaskState.PROMPT]: 'running',
  [ListrTaskState.PROMPT_COMPLETED]: 'running',
  [ListrTaskState.PROMPT_FAILED]: 'failed',
  [ListrTaskState.CANCELLED]: 'cancelled',
};

/** States in which the task's last error message is worth showing. */
const SHOWS_ERROR = new Set<TaskState>(['failed', 'retrying', 'paused', 'rolling-back', 'rolled-back']);

export class StoreRenderer implements ListrRenderer {
  /**
   * true, although this renderer is meant for terminals: it never touches one,
   * and with false listr2 would look at the global process.stdout.isTTY and
   * silently swap in its SimpleRenderer (which prints to process.stdout) whenever
   * output is piped, leaving the store empty. Whether to draw with Ink is the
   * caller's decision, made on the stream it passes to renderCreate.
   */
  static nonTTY = true;
  // Types only: listr2 reads these to type `rendererOptions` on Listr and on tasks.
  declare static rendererOptions: StoreRendererOptions;
  declare static rendererTaskOptions: StoreRendererTaskOptions;

  readonly #tasks: readonly StoreTask[];
  readonly #store: TaskStore;
  readonly #watched = new Set<string>();
  #removers: Array<() => void> = [];

  constructor(tasks: StoreTask[], options: StoreRendererOptions) {
    if (!options?.store) throw new BugError('StoreRenderer needs rendererOptions: { store }');
    this.#tasks = tasks;
    this.#store = options.store;
  }

  render(): void {
    this.#watch(this.#tasks, undefined);
  }

  end(): void {
    for (const remove of this.#removers) remove();
    this.#removers = [];
    this.#watched.clear();
    this.#store.flush();
  }

  #watch(tasks: readonly StoreTask[], parentId: string | undefined): void {
    const fresh = tasks.filter((task) => !this.#watched.has(task.id));
    if (fresh.length === 0) return;
    const rows = fresh.map((task): NewTaskRow => {
      const progressKey = task.rendererTaskOptions?.progressKey;
      return { id: task.id, title: printableLines(task.title ?? ''), state: STATES[task.state], ...(progressKey ? { progressKey } : {}) };
    });
    // A retried task builds a new set of subtasks; they replace the old rows.
    if (parentId === undefined) this.#store.addTasks(rows);
    else this.#store.replaceChildren(parentId, rows);
    for (const task of fresh) {
      this.#watched.add(task.id);
      this.#listen(task);
      if (task.subtasks?.length) this.#watch(task.subtasks, task.id);
    }
  }

  #listen(task: StoreTask): void {
    const sync = (): void => this.#store.updateTask(task.id, rowPatch(task));
    this.#on(task, ListrTaskEventType.STATE, sync);
    this.#on(task, ListrTaskEventType.TITLE, sync);
    this.#on(task, ListrTaskEventType.TITLE_RESET, sync);
    this.#on(task, ListrTaskEventType.OUTPUT, sync);
    this.#on(task, ListrTaskEventType.OUTPUT_RESET, sync);
    this.#on(task, ListrTaskEventType.MESSAGE, sync);
    this.#on(task, ListrTaskEventType.ENABLED, (enabled: boolean) =>
      this.#store.updateTask(task.id, { disabled: enabled ? undefined : true }),
    );
    this.#on(task, ListrTaskEventType.SUBTASK, (subtasks: StoreTask[]) => this.#watch(subtasks, task.id));
    // listr2 closes a task only after its final state and error message are set,
    // so this is when a row may move into Ink's <Static> for good.
    this.#on(task, ListrTaskEventType.CLOSED, () => this.#store.updateTask(task.id, { ...rowPatch(task), final: true }));
  }

  #on<E extends ListrTaskEventType>(task: StoreTask, event: E, handler: (data: never) => void): void {
    const listener = handler as (data: unknown) => void;
    task.on(event, listener);
    this.#removers.push(() => task.off(event, listener));
  }
}

/** Reads the row from the task itself: listr2 changes some fields without an event (output on retry). */
function rowPatch(task: StoreTask): TaskPatch {
  const state = STATES[task.state];
  // Titles and messages can carry names from a bundle or words from a registry: nothing unsafe reaches Ink.
  const title = printableLines(task.title ?? '');
  const skip = task.message?.skip === undefined ? undefined : printableLines(task.message.skip);
  return {
    state,
    title,
    output: task.output ? printableLines(String(task.output)) : undefined,
    error: SHOWS_ERROR.has(state) && task.message?.error !== undefined ? printableLines(task.message.error) : undefined,
    skipReason: state === 'skipped' && skip && skip !== title ? skip : undefined,
    retries: state === 'retrying' || state === 'paused' ? task.retry?.count : undefined,
    // Skipped and cancelled tasks are never closed by listr2, yet nothing changes after.
    final: state === 'skipped' || state === 'cancelled' ? true : undefined,
  };
}
