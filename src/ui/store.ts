/**
 * The state every view renders: a tree of task rows plus the outcome of the run.
 * An external store (no React here) so Ink components read it with
 * useSyncExternalStore: snapshots are immutable, a new object on every change
 * and the very same object otherwise.
 *
 * Progress and output can change thousands of times per second, so they only
 * schedule a notification (at most one per `throttleMs`); changes that decide
 * what is on screen for good (state, finality, new rows, summary, error) and
 * flush() publish at once, so the final state is never lost.
 */
import type { ByteProgress, ProgressHub } from '../core/progress.js';
import type { CreateSummary } from '../core/bundle/summary.js';

export type TaskState =
  | 'pending'
  | 'running'
  | 'completed'
  | 'failed'
  | 'skipped'
  | 'retrying'
  | 'paused'
  | 'rolling-back'
  | 'rolled-back'
  | 'cancelled';

export interface TaskRow {
  readonly id: string;
  /** Empty for background tasks: views hide the row but still show its children. */
  readonly title: string;
  readonly state: TaskState;
  /** No further change will come for this row (listr2 closed the task). */
  readonly final?: boolean;
  /** The task's `enabled` resolved to false: it will never run; views hide it. */
  readonly disabled?: boolean;
  readonly output?: string;
  readonly progressKey?: string;
  readonly progress?: ByteProgress;
  readonly error?: string;
  /** Why the task was skipped, when that says more than its title. */
  readonly skipReason?: string;
  /** Failed attempts so far while retrying. */
  readonly retries?: number;
  readonly children: readonly TaskRow[];
}

export interface TaskStoreError {
  message: string;
  hint?: string;
}

export interface TaskStoreState {
  readonly tasks: readonly TaskRow[];
  readonly summary?: CreateSummary;
  readonly error?: TaskStoreError;
}

export interface NewTaskRow {
  id: string;
  title: string;
  state?: TaskState;
  progressKey?: string;
}

/** Fields a mutator may change; `undefined` removes an optional field. */
export type TaskPatch = Partial<Omit<TaskRow, 'id' | 'children' | 'progressKey'>>;

export interface TaskStore {
  subscribe(listener: () => void): () => void;
  getSnapshot(): TaskStoreState;
  /** Appends rows under `parentId`, or at the top level when it is undefined. */
  addTasks(rows: readonly NewTaskRow[], parentId?: string): void;
  /** Replaces the children of `parentId` (a retried task builds new subtasks). */
  replaceChildren(parentId: string, rows: readonly NewTaskRow[]): void;
  updateTask(id: string, patch: TaskPatch): void;
  /** Progress for every row whose progressKey is `key` (also rows added later). */
  setProgress(key: string, progress: ByteProgress): void;
  /** Copies progress published on `hub` into rows; returns the unsubscribe function. */
  attachProgress(hub: ProgressHub): () => void;
  setSummary(summary: CreateSummary | undefined): void;
  setError(error: TaskStoreError | undefined): void;
  /** Publishes pending changes now. */
  flush(): void;
}

export interface TaskStoreOptions {
  /** Minimum time between throttled notifications; 100 ms is ~10 per second. */
  throttleMs?: number;
}

export function createTaskStore(options: TaskStoreOptions = {}): TaskStore {
  const throttleMs = options.throttleMs ?? 100;
  const listeners = new Set<() => void>();
  let published: TaskStoreState = { tasks: [] };
  let latest: TaskStoreState = published;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Index paths never go stale: rows are only appended, or a parent's children replaced wholesale.
  const paths = new Map<string, readonly number[]>();
  const idsByKey = new Map<string, Set<string>>();
  const progressByKey = new Map<string, ByteProgress>();

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (latest === published) return;
    published = latest;
    for (const listener of [...listeners]) listener();
  }

  function schedule(): void {
    if (timer === undefined && latest !== published) timer = setTimeout(flush, throttleMs);
  }

  function toRow(row: NewTaskRow): TaskRow {
    const progress = row.progressKey === undefined ? undefined : progressByKey.get(row.progressKey);
    return {
      id: row.id,
      title: row.title,
      state: row.state ?? 'pending',
      ...(row.progressKey === undefined ? {} : { progressKey: row.progressKey }),
      ...(progress === undefined ? {} : { progress }),
      children: [],
    };
  }

  function indexRow(row: TaskRow, path: readonly number[]): void {
    paths.set(row.id, path);
    if (row.progressKey !== undefined) {
      let ids = idsByKey.get(row.progressKey);
      if (!ids) idsByKey.set(row.progressKey, (ids = new Set()));
      ids.add(row.id);
    }
    row.children.forEach((child, i) => indexRow(child, [...path, i]));
  }

  function unindex(rows: readonly TaskRow[]): void {
    for (const row of rows) {
      paths.delete(row.id);
      if (row.progressKey !== undefined) idsByKey.get(row.progressKey)?.delete(row.id);
      unindex(row.children);
    }
  }

  function setChildren(parentId: string | undefined, rows: readonly NewTaskRow[], replace: boolean): void {
    const added = rows.map(toRow);
    if (added.length === 0 && !replace) return;
    let base: readonly number[] = [];
    let offset = latest.tasks.length;
    if (parentId === undefined) {
      latest = { ...latest, tasks: [...latest.tasks, ...added] };
    } else {
      const path = paths.get(parentId);
      if (path === undefined) return;
      base = path;
      const tasks = updateAt(latest.tasks, path, (parent) => {
        if (replace) unindex(parent.children);
        const kept = replace ? [] : parent.children;
        offset = kept.length;
        if (added.length === 0 && parent.children.length === 0) return parent;
        return { ...parent, children: [...kept, ...added] };
      });
      if (tasks === latest.tasks) return;
      latest = { ...latest, tasks };
    }
    added.forEach((row, i) => indexRow(row, [...base, offset + i]));
    flush();
  }

  function patchRow(id: string, patch: TaskPatch): void {
    const path = paths.get(id);
    if (path === undefined) return;
    let urgent = false;
    const tasks = updateAt(latest.tasks, path, (row) => {
      const next = applyPatch(row, patch);
      urgent = next.state !== row.state || next.final !== row.final || next.disabled !== row.disabled;
      return next;
    });
    if (tasks === latest.tasks) return;
    latest = { ...latest, tasks };
    if (urgent) flush();
    else schedule();
  }

  function setProgress(key: string, progress: ByteProgress): void {
    progressByKey.set(key, progress);
    for (const id of idsByKey.get(key) ?? []) patchRow(id, { progress });
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getSnapshot: () => published,
    addTasks: (rows, parentId) => setChildren(parentId, rows, false),
    replaceChildren: (parentId, rows) => setChildren(parentId, rows, true),
    updateTask: patchRow,
    setProgress,
    attachProgress: (hub) => hub.subscribe((event) => setProgress(event.key, event.progress)),
    setSummary(summary) {
      if (summary === latest.summary) return;
      latest = withField(latest, 'summary', summary);
      flush();
    },
    setError(error) {
      if (error === latest.error) return;
      latest = withField(latest, 'error', error);
      flush();
    },
    flush,
  };
}

function withField<K extends 'summary' | 'error'>(
  state: TaskStoreState,
  key: K,
  value: TaskStoreState[K],
): TaskStoreState {
  const next: Record<string, unknown> = { ...state };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return next as unknown as TaskStoreState;
}

/** Copies only the rows on `path`; returns `rows` itself when nothing changed. */
function updateAt(
  rows: readonly TaskRow[],
  path: readonly number[],
  update: (row: TaskRow) => TaskRow,
): readonly TaskRow[] {
  const [i, ...rest] = path;
  const row = i === undefined ? undefined : rows[i];
  if (row === undefined || i === undefined) return rows;
  const next = rest.length === 0 ? update(row) : withChildren(row, updateAt(row.children, rest, update));
  if (next === row) return rows;
  const copy = rows.slice();
  copy[i] = next;
  return copy;
}

function withChildren(row: TaskRow, children: readonly TaskRow[]): TaskRow {
  return children === row.children ? row : { ...row, children };
}

function applyPatch(row: TaskRow, patch: TaskPatch): TaskRow {
  let next: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(patch)) {
    const current = (row as unknown as Record<string, unknown>)[key];
    if (value === undefined ? !(key in row) : sameValue(current, value)) continue;
    next ??= { ...row };
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next === undefined ? row : (next as unknown as TaskRow);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  // ByteProgress arrives as a fresh object per event; equal numbers mean no change.
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  return keys.length === Object.keys(right).length && keys.every((k) => Object.is(left[k], right[k]));
}
