/**
 * Runs a task graph under the view the output mode asks for. Only one thing
 * draws on the terminal: in the TUI mode the Ink app (fed by StoreRenderer,
 * which never writes), in plain mode listr2's simple renderer, in JSON mode
 * nothing until the final document.
 */
import type { Listr } from 'listr2';
import { BugError } from '../core/errors.js';
import type { ProgressHub } from '../core/progress.js';
import type { CreateSummary } from '../core/bundle/summary.js';
import type { CreateContext } from '../core/tasks/create-tasks.js';
import type { OutputMode, Streams } from './output.js';

export type BuildTasks = (renderer: any, rendererOptions: unknown, outputIntervalMs: number) => Listr<CreateContext, any, any>;

export async function runCreateView(
  mode: OutputMode,
  streams: Streams,
  progress: ProgressHub,
  build: BuildTasks,
  _signal: AbortSignal,
): Promise<CreateSummary> {
  if (mode === 'json') return summaryOf(await build('silent', {}, 0).run());
  if (mode === 'plain') return summaryOf(await build('simple', { timestamp: undefined }, 5_000).run());

  // Ink, React and yoga load only for the live view: plain and JSON runs stay small (about 40 MiB less RSS).
  const [{ StoreRenderer }, { createTaskStore }, { renderCreate }] = await Promise.all([
    import('../ui/listr-renderer.js'),
    import('../ui/store.js'),
    import('../ui/render.js'),
  ]);
  const store = createTaskStore();
  const detach = store.attachProgress(progress);
  const app = renderCreate({ store, stdout: streams.stdout, stdin: streams.stdin, stderr: streams.stderr });
  try {
    const ctx = await build(StoreRenderer, { store }, 0).run();
    const summary = summaryOf(ctx);
    store.setSummary(summary);
    return summary;
  } finally {
    detach();
    // Let Ink paint the final frame, then give the terminal back before anything else prints.
    await new Promise((r) => setTimeout(r, 50));
    app.unmount();
    await app.waitUntilExit().catch(() => undefined);
  }
}

function summaryOf(ctx: CreateContext): CreateSummary {
  if (!ctx.summary) throw new BugError('create finished without a summary');
  return ctx.summary;
}
