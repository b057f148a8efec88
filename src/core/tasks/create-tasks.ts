/**
 * The listr2 task graph for `lading create`. Tasks call core steps and say
 * what happened in their titles; byte progress goes out on the ProgressHub
 * (keyed by the task's progressKey), and, for line-based renderers, as a
 * throttled output line.
 */
import { Listr, type ListrRendererValue, type ListrTask } from 'listr2';
import { formatBytes, formatDuration, type ProgressHub, ProgressMeter } from '../progress.js';
import { followProgress } from './progress-output.js';
import type { CreateSummary } from '../bundle/summary.js';
import type { CreateJob } from '../create/create-job.js';
import { displayPlatform } from '../oci/platform.js';

export interface CreateContext {
  summary?: CreateSummary;
}

export const WRITE_PROGRESS_KEY = 'bundle:write';

export interface CreateTaskOptions<R extends ListrRendererValue> {
  renderer: R;
  rendererOptions?: unknown;
  /** Image resolves and pulls at once. */
  concurrency: number;
  /** How often a progress line is emitted as task output; 0 for none (the Ink view reads the hub instead). */
  outputIntervalMs: number;
  progress: ProgressHub;
}

export function buildCreateTasks<R extends ListrRendererValue>(job: CreateJob, options: CreateTaskOptions<R>): Listr<CreateContext, any, any> {
  const { concurrency, outputIntervalMs, progress } = options;
  const count = job.images.length;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

  const resolveTasks: ListrTask<CreateContext, any, any>[] = job.images.map((image) => ({
    title: image.spec.source,
    task: async (_ctx, task) => {
      const resolved = await job.resolve(image);
      const platforms = resolved.platforms.map((p) => displayPlatform(p.platform)).join(', ');
      task.title = `${image.spec.source}  ${platforms}  ${formatBytes(image.totalBytes)}`;
    },
  }));

  const pullTasks: ListrTask<CreateContext, any, any>[] = job.images.map((image) => ({
    title: image.spec.source,
    rendererOptions: { progressKey: image.spec.source },
    task: async (_ctx, task) => {
      const stop = followProgress(progress, image.spec.source, task, outputIntervalMs);
      const started = performance.now();
      try {
        await job.pull(image);
      } finally {
        stop();
      }
      const seconds = (performance.now() - started) / 1000;
      task.title = `${image.spec.source}  ${formatBytes(image.totalBytes)} in ${formatDuration(seconds)}`;
    },
  }));

  return new Listr<CreateContext, any, any>(
    [
      {
        title: `Resolve ${plural(count, 'image')}`,
        task: (_ctx, task) =>
          task.newListr(resolveTasks, { concurrent: concurrency, exitOnError: true }),
      },
      {
        title: 'Open bundle',
        task: async (_ctx, task) => {
          await job.open();
          task.title = `Open bundle (${formatBytes(job.uniqueBlobBytes())} of unique blobs to write)`;
        },
      },
      {
        title: 'Pull and write',
        task: (_ctx, task) =>
          task.newListr(
            [
              {
                title: `Pull ${plural(count, 'image')}`,
                // Every image starts at once: the blob semaphore in CreateJob bounds real downloads, so a
                // large image late in the spec starts early instead of stretching the tail.
                task: (_c, pull) => pull.newListr(pullTasks, { concurrent: true, exitOnError: true }),
              },
              {
                title: 'Write bundle',
                rendererOptions: { progressKey: WRITE_PROGRESS_KEY },
                task: async (ctx, write) => {
                  const meter = new ProgressMeter(job.uniqueBlobBytes());
                  const stop = followProgress(progress, WRITE_PROGRESS_KEY, write, outputIntervalMs);
                  const publish = () => progress.publish({ key: WRITE_PROGRESS_KEY, progress: meter.snapshot() });
                  try {
                    ctx.summary = await job.write((n) => {
                      meter.advance(n);
                      publish();
                    });
                    meter.complete();
                    publish();
                  } finally {
                    stop();
                  }
                  write.title = `Write bundle  ${formatBytes(ctx.summary.bundleBytes)}  sha256:${ctx.summary.bundleSha256.slice(0, 12)}…`;
                },
              },
            ],
            { concurrent: true, exitOnError: true },
          ),
      },
    ],
    {
      renderer: options.renderer as any,
      rendererOptions: options.rendererOptions as any,
      fallbackRenderer: 'simple',
      fallbackRendererCondition: () => false,
      exitOnError: true,
      registerSignalListeners: false,
      collectErrors: false,
    },
  );
}
