/**
 * Runs a task graph under the view the output mode asks for. Only one thing
 * draws on the terminal: in the TUI mode the Ink app (fed by StoreRenderer,
 * which never writes), in plain mode listr2's simple renderer, in JSON mode
 * nothing until the final document.
 */
import type { Listr } from 'listr2';
import { createInterface } from 'node:readline/promises';
import { BugError, InterruptedError } from '../core/errors.js';
import type { ProgressHub } from '../core/progress.js';
import type { CreateSummary } from '../core/bundle/summary.js';
import type { CreateContext } from '../core/tasks/create-tasks.js';
import type { OutputMode, Streams } from './output.js';
import type { TaskStore } from '../ui/store.js';

export type BuildTasks<Ctx> = (renderer: any, rendererOptions: unknown, outputIntervalMs: number) => Listr<Ctx, any, any>;

/**
 * Runs the tasks and returns their context. `beforeUnmount` may put a final
 * state (a summary) into the store so the last frame shows it.
 */
export async function runTasksView<Ctx>(
  mode: OutputMode,
  streams: Streams,
  progress: ProgressHub,
  build: BuildTasks<Ctx>,
  beforeUnmount?: (store: TaskStore, ctx: Ctx) => void,
): Promise<Ctx> {
  if (mode === 'json') return build('silent', {}, 0).run();
  if (mode === 'plain') return build('simple', { timestamp: undefined }, 5_000).run();

  // Ink, React and yoga load only for the live view: plain and JSON runs stay small (about 15 MiB less RSS).
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
    beforeUnmount?.(store, ctx);
    return ctx;
  } finally {
    detach();
    store.flush();
    // Let Ink paint the final frame, then give the terminal back before anything else prints.
    await new Promise((r) => setTimeout(r, 50));
    app.unmount();
    await app.waitUntilExit().catch(() => undefined);
  }
}

export async function runCreateView(mode: OutputMode, streams: Streams, progress: ProgressHub, build: BuildTasks<CreateContext>): Promise<CreateSummary> {
  const ctx = await runTasksView(mode, streams, progress, build, (store, done) => store.setSummary(summaryOf(done)));
  return summaryOf(ctx);
}

function summaryOf(ctx: CreateContext): CreateSummary {
  if (!ctx.summary) throw new BugError('create finished without a summary');
  return ctx.summary;
}

/**
 * Shows what is about to happen and asks before it does: an Ink screen
 * answered with one key, or in plain mode the lines and a readline question
 * (stdin must be a terminal either way; the caller refuses otherwise).
 */
export async function confirmInView(mode: OutputMode, streams: Streams, lines: string[], question: string): Promise<boolean> {
  if (mode === 'tui') {
    const { askInView } = await import('../ui/render.js');
    const answer = await askInView({ lines, question, stdout: streams.stdout, stdin: streams.stdin, stderr: streams.stderr });
    if (answer === 'interrupted') throw new InterruptedError();
    return answer === 'yes';
  }
  if (lines.length) streams.stdout.write(lines.join('\n') + '\n');
  const rl = createInterface({ input: streams.stdin, output: streams.stderr });
  // On a terminal readline takes Ctrl-C as input and says so with its own SIGINT event.
  const interrupted = new Promise<never>((_, reject) => rl.once('SIGINT', () => reject(new InterruptedError())));
  const asked = rl.question(`${question} [y/N] `);
  asked.catch(() => undefined);
  interrupted.catch(() => undefined);
  try {
    const answer = await Promise.race([asked, interrupted]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
