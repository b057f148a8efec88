/**
 * The listr2 task graphs for `lading install`: first what changes nothing
 * (bundle verification, cluster preflight), then, once the operator agreed
 * to the plan, the work on the nodes: one row per node, in parallel up to a
 * bound; a failing node does not stop the others (its group does not exit on
 * error), while a failing step before them (the namespace) stops the run.
 */
import { Listr, type ListrRendererValue, type ListrTask } from 'listr2';
import { mapLimit } from '../util/semaphore.js';
import { deltaBaseMissing } from '../install/node-work.js';
import type { InventoryNode } from '../inventory/inventory.js';
import type { NodePlan } from '../install/plan.js';
import { formatBytes, type ProgressHub } from '../progress.js';
import { followProgress } from './progress-output.js';
import { VERIFY_PROGRESS_KEY, type InstallJob } from '../install/install-job.js';
import { tally } from '../install/outcome.js';

export interface InstallContext {
  nodesFailed?: number;
}

export interface InstallTaskOptions<R extends ListrRendererValue> {
  renderer: R;
  rendererOptions?: unknown;
  concurrency: number;
  progress: ProgressHub;
  /** How often a progress line is emitted as task output; 0 for none (the Ink view reads the hub instead). */
  outputIntervalMs: number;
}

/** Counts a failed node and says so on the group's row, which listr2 would otherwise show as done. */
function nodeFailed(ctx: InstallContext, parent: { title: string | undefined }): void {
  ctx.nodesFailed = (ctx.nodesFailed ?? 0) + 1;
  parent.title = `${(parent.title ?? '').replace(/ \(\d+ failed\)$/, '')} (${ctx.nodesFailed} failed)`;
}

/**
 * One row per node, `concurrency` at once. A node whose work throws fails its row and is counted
 * (ctx.nodesFailed, and in the parent's title); the other nodes go on.
 */
function nodeRows<R extends ListrRendererValue>(
  nodes: NodePlan[],
  options: InstallTaskOptions<R>,
  parent: any,
  work: (plan: NodePlan, task: any) => Promise<void>,
  row: (plan: NodePlan) => Partial<ListrTask<InstallContext, any, any>> = () => ({}),
) {
  return parent.newListr(
    nodes.map((plan) => ({
      title: `${plan.facts.name}  ${plan.facts.platform}`,
      ...row(plan),
      task: async (ctx: InstallContext, task: any) => {
        try {
          await work(plan, task);
        } catch (error) {
          nodeFailed(ctx, parent);
          throw error;
        }
      },
    })),
    { concurrent: options.concurrency, exitOnError: false },
  );
}

/** What every lading task list shares: the given renderer (plain fallback off: the caller chose), no signal handlers of listr2's own. */
export const common = (options: InstallTaskOptions<ListrRendererValue>) => ({
  renderer: options.renderer as any,
  rendererOptions: options.rendererOptions as any,
  fallbackRenderer: 'simple' as const,
  fallbackRendererCondition: () => false,
  registerSignalListeners: false,
  collectErrors: false as const,
});

/** `forCheck`: the bundle's description only (no blob hashed) and a preflight that needs no space, as `check` reads. */
export function buildPreflightTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>, { forCheck = false }: { forCheck?: boolean } = {}): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: 'Read bundle',
        enabled: forCheck,
        task: async (_ctx, task) => {
          const metadata = await job.readMetadata();
          task.title = `Read bundle  ${metadata.name} ${metadata.version}: ${metadata.images.length} images (the registry checks each blob's digest as it is pushed)`;
        },
      },
      {
        title: 'Verify bundle',
        enabled: !forCheck,
        rendererOptions: { progressKey: VERIFY_PROGRESS_KEY },
        task: async (_ctx, task) => {
          const stop = followProgress(options.progress, VERIFY_PROGRESS_KEY, task, options.outputIntervalMs);
          const metadata = await job.verifyBundle().finally(stop);
          const hashed = job.bundleHashedEarlier ? `every blob hashed at ${job.bundleHashedEarlier}, the file unchanged since` : 'every blob hashed';
          task.title = `Verify bundle  ${metadata.name} ${metadata.version}: ${metadata.images.length} images, ${hashed}`;
        },
      },
      {
        title: 'Preflight (changes nothing)',
        task: async (_ctx, task) => {
          const plans = await job.preflight({ forCheck });
          task.title = `Preflight  ${job.report().cluster.version}, ${plans.length} node${plans.length === 1 ? '' : 's'} ready, permissions granted`;
        },
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

export function buildRestorePreflightTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: 'Preflight (changes nothing)',
        task: async (_ctx, task) => {
          const plans = await job.preflightRestore();
          task.title = `Preflight  ${job.report().cluster.version}, ${plans.length} node${plans.length === 1 ? '' : 's'}, permissions granted`;
        },
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

/** `lading inventory`: per node, what its runtime holds; a node that cannot be asked fails its row, the others still run. */
export function buildInventoryTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>, found: Map<string, InventoryNode>): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: `List what ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'} hold`,
        task: (_ctx, parent) =>
          nodeRows(job.nodes, options, parent, async (plan, task) => {
            const node = await job.inventoryNode(plan, (stage) => (task.output = stage));
            found.set(node.name, node);
            task.title = `${plan.facts.name}  ${Object.keys(node.images).length} image names, ${node.blobs.length} blobs (${plan.report.runtime})`;
          }),
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

export function buildRestoreTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: `Restore runtime configuration on ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'}`,
        task: (_ctx, parent) =>
          nodeRows(job.nodes, options, parent, async (plan, task) => {
            const restored = await job.restoreNode(plan, (stage) => (task.output = stage));
            const unpinned = plan.report.unpinned ?? [];
            const done = [...(restored.length ? [`restored ${restored.join(', ')}`] : []), ...(unpinned.length ? [`unpinned ${unpinned.length} image names`] : [])];
            task.title = `${plan.facts.name}  ${done.join('; ') || 'nothing to restore'}`;
          }, (plan) => ({ title: plan.facts.name })),
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

export function buildInstallTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: 'Prepare lading\'s namespace',
        task: () => job.prepareNamespace(),
      },
      ...deltaBaseTask(job, options),
      {
        title: `Install on ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'}`,
        task: (_ctx, parent) =>
          nodeRows(job.nodes, options, parent, async (plan, task) => {
            const stop = followProgress(options.progress, `node:${plan.facts.name}`, task, options.outputIntervalMs);
            const report = await job.installNode(plan, (stage) => (task.output = stage)).finally(stop);
            const { injected, present, bad } = tally(report);
            const warnings = report.warnings?.length ? `; ${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'}` : '';
            task.title = `${plan.facts.name}  ${injected} injected (${formatBytes(report.injectedBytes)}), ${present} already there${bad ? `, ${bad} MISSING` : ''}; pods ${report.smoke?.ok ? 'found them without a pull' : `failed: ${report.smoke?.detail}`}${warnings}`;
            if (bad || !report.smoke?.ok) throw new Error(`${plan.facts.name}: verification failed`);
          }, (plan) => ({ rendererOptions: { progressKey: `node:${plan.facts.name}` } })),
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

/**
 * A delta bundle: before any node changes, every node is asked whether its
 * runtime holds the layers the delta leaves out (for the images it lacks);
 * one that does not stops the install, naming node and layers.
 */
function deltaBaseTask<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>): ListrTask<InstallContext, any, any>[] {
  const relying = job.nodes.filter((plan) => plan.archive.fromTarget.length > 0);
  if (relying.length === 0) return [];
  const layers = new Set(relying.flatMap((plan) => plan.archive.fromTarget.map((b) => b.digest))).size;
  return [
    {
      title: `Check that ${relying.length === 1 ? 'the node holds' : `all ${relying.length} nodes hold`} the ${layers} layers this delta leaves out`,
      task: async (_ctx, task) => {
        const lacking = await mapLimit(relying, options.concurrency, async (plan) => ({
          node: plan.facts.name,
          lacking: await job.deltaBaseOn(plan, (stage) => (task.output = `${plan.facts.name}: ${stage}`)),
        }));
        const short = lacking.filter((n) => n.lacking.length > 0);
        if (short.length) throw deltaBaseMissing(short);
        task.title = `Check the delta's base  every node holds the ${layers} layers it leaves out`;
      },
    },
  ];
}

/**
 * `lading check`: the bundle's description, the same preflight as install
 * (no space needed), then per node what its runtime still holds. A node that
 * lost an image fails its row; the others still run.
 */
export function buildCheckTasks<R extends ListrRendererValue>(job: InstallJob, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  return new Listr<InstallContext, any, any>(
    [
      {
        title: 'Read bundle',
        task: async (_ctx, task) => {
          const metadata = await job.readMetadata();
          task.title = `Read bundle  ${metadata.name} ${metadata.version}: ${metadata.images.length} images (blobs are hashed only for a repair)`;
        },
      },
      {
        title: 'Preflight (changes nothing)',
        task: async (_ctx, task) => {
          const plans = await job.preflight({ forCheck: true });
          task.title = `Preflight  ${job.report().cluster.version}, ${plans.length} node${plans.length === 1 ? '' : 's'} ready, permissions granted`;
        },
      },
      {
        title: 'Prepare lading\'s namespace',
        task: () => job.prepareNamespace(),
      },
      {
        title: 'Check the nodes',
        task: (_ctx, parent) => {
          parent.title = `Check ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'}`;
          return nodeRows(job.nodes, options, parent, async (plan, task) => {
            const report = await job.checkNode(plan, (stage) => (task.output = stage));
            const { present, bad: lost } = tally(report);
            const since = report.sinceInstall ? (report.sinceInstall.rebooted ? '; rebooted since install' : '; not rebooted since install') : '';
            const unpinned = report.images.filter((i) => i.pinned === false).length;
            task.title = `${plan.facts.name}  ${present} of ${report.images.length} present${lost ? `, ${lost} LOST` : ''}${unpinned ? `, ${unpinned} not pinned` : ''}${since}`;
            if (lost) throw new Error(`${plan.facts.name}: ${lost} image${lost === 1 ? '' : 's'} lost`);
          });
        },
      },
    ],
    { ...common(options), exitOnError: true },
  );
}
