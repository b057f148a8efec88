/**
 * The listr2 task graph for `lading install --registry`, once the operator
 * agreed to the plan: the registry's image onto its node (node injection),
 * the registry started, every image pushed through the API server, every node
 * pointed at it and proven to pull from it (one row per node, a failing node
 * does not stop the others), then the registry's own account of what it holds.
 */
import { Listr, type ListrRendererValue } from 'listr2';
import { formatBytes } from '../progress.js';
import { followProgress } from './progress-output.js';
import type { InstallJob } from '../install/install-job.js';
import { tally } from '../install/outcome.js';
import { REGISTRY_PUSH_PROGRESS_KEY, type RegistryMode } from '../registry/registry-mode.js';
import { common, type InstallContext, type InstallTaskOptions } from './install-tasks.js';

export function buildRegistryTasks<R extends ListrRendererValue>(job: InstallJob, registry: RegistryMode, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  const { node, image } = registry.placement;
  const images = job.metadata.images;
  return new Listr<InstallContext, any, any>(
    [
      { title: 'Prepare lading\'s namespace', task: () => job.prepareNamespace() },
      {
        title: `Put the registry image on ${node} (node injection, pinned)`,
        task: async (_ctx, task) => {
          const plan = registry.bootstrapPlan();
          const report = await job.installNode(plan, (stage) => (task.output = stage));
          registry.recordBootstrap(report);
          const { injected, bad } = tally(report);
          if (bad || report.error) throw new Error(`${node}: the registry image ${image} is not on the node${report.error ? `: ${report.error}` : ''}`);
          task.title = `Put the registry image on ${node}  ${injected ? 'injected' : 'already there'}, ${report.images[0]?.pinned ? `pinned (${report.images[0]?.pinnedBy})` : 'NOT pinned'}`;
        },
      },
      {
        title: `Start the registry on ${node}`,
        task: async (_ctx, task) => {
          await registry.start();
          task.title = `Start the registry on ${node}  ready at ${registry.report!.endpoint}`;
        },
      },
      {
        title: `Push ${images.length} image${images.length === 1 ? '' : 's'} through the API server`,
        rendererOptions: { progressKey: REGISTRY_PUSH_PROGRESS_KEY },
        task: async (_ctx, task) => {
          const stop = followProgress(options.progress, REGISTRY_PUSH_PROGRESS_KEY, task, options.outputIntervalMs);
          const push = await registry.push().finally(stop);
          task.title = `Push ${push.images} image${push.images === 1 ? '' : 's'} through the API server  ${push.blobsUploaded} blobs sent (${formatBytes(push.bytesSent)}), ${push.blobsPresent} already there, ${push.manifestsPut} manifests`;
        },
      },
      {
        title: `Point ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'} at the registry`,
        task: (_ctx, parent) =>
          parent.newListr(
            job.nodes.map((plan) => ({
              title: `${plan.facts.name}  ${plan.facts.platform}`,
              task: async (ctx: InstallContext, task) => {
                try {
                  const report = await job.mirrorNode(plan, registry.mirrors(job.mirrors), images, (stage) => (task.output = stage), registry.mirrorAuth());
                  const pulled = report.images.filter((i) => i.proof?.byPull).length;
                  task.title = `${plan.facts.name}  ${pulled} of ${images.length} pulled by original name from the registry${report.changedFiles.length ? `; wrote ${report.changedFiles.length} file${report.changedFiles.length === 1 ? '' : 's'}` : ''}`;
                  if (!report.smoke?.ok) throw new Error(`${plan.facts.name}: ${report.smoke?.detail ?? 'pulls failed'}`);
                } catch (error) {
                  ctx.nodesFailed = (ctx.nodesFailed ?? 0) + 1;
                  throw error;
                }
              },
            })),
            { concurrent: options.concurrency, exitOnError: false },
          ),
      },
      {
        title: 'The registry holds every image by digest and tag',
        task: async (_ctx, task) => {
          const held = await registry.verifyHeld();
          if (!held.ok) throw new Error(`the registry lacks ${held.missing.join(', ')}`);
          task.title = `The registry holds all ${images.length} images by digest and tag`;
        },
      },
    ],
    { ...common(options), exitOnError: true },
  );
}

/**
 * `lading check --registry`: the registry's pod, its own image on its node
 * (present, pinned), and what it holds against the bundle. Changes nothing;
 * `repair` then starts it again if needed, puts its image back on its node if
 * lost, and pushes only what it lacks.
 */
export function buildRegistryCheckTasks<R extends ListrRendererValue>(job: InstallJob, registry: RegistryMode, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  const { node, image } = registry.placement;
  return new Listr<InstallContext, any, any>(
    [
      { title: 'Prepare lading\'s namespace', task: () => job.prepareNamespace() },
      {
        title: `The registry image on ${node}`,
        task: async (_ctx, task) => {
          const report = await job.checkNode(registry.bootstrapPlan(), (stage) => (task.output = stage));
          registry.recordBootstrap(report);
          const held = report.images[0];
          task.title = `The registry image on ${node}  ${held?.outcome ?? 'missing'}${held?.pinned ? `, pinned (${held.pinnedBy})` : held?.outcome === 'present' ? ', NOT pinned' : ''}`;
          if (!held || held.outcome !== 'present') throw new Error(`${node}: the registry image ${image} is ${held?.outcome ?? 'missing'}`);
        },
      },
      {
        title: 'The registry\'s pod',
        task: async (_ctx, task) => {
          const health = await registry.health();
          task.title = `The registry's pod  ${health.ready ? health.detail : 'NOT READY'}`;
          if (!health.ready) throw new Error(health.detail);
        },
      },
      {
        title: 'What the registry holds',
        task: async (_ctx, task) => {
          const held = await registry.verifyHeld();
          task.title = held.ok ? `What the registry holds  all ${job.metadata.images.length} images by digest and tag` : `What the registry holds  ${held.missing.length} MISSING`;
          if (!held.ok) throw new Error(`the registry lacks ${held.missing.join(', ')}`);
        },
      },
    ],
    // Every check runs, whatever the one before found.
    { ...common(options), exitOnError: false },
  );
}

/** `check --registry --repair`: the registry's image back on its node if lost, the registry started, only the missing images pushed. */
export function buildRegistryRepairTasks<R extends ListrRendererValue>(job: InstallJob, registry: RegistryMode, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  const { node } = registry.placement;
  return new Listr<InstallContext, any, any>(
    [
      {
        title: `The registry image on ${node}`,
        task: async (_ctx, task) => {
          const report = await job.installNode(registry.bootstrapPlan(), (stage) => (task.output = stage));
          registry.recordBootstrap(report);
          const { injected, bad } = tally(report);
          if (bad || report.error) throw new Error(`${node}: the registry image is not on the node${report.error ? `: ${report.error}` : ''}`);
          task.title = `The registry image on ${node}  ${injected ? 'injected again' : 'was there'}`;
        },
      },
      { title: 'Start the registry', task: () => registry.start() },
      {
        title: 'Push what the registry lacks',
        rendererOptions: { progressKey: REGISTRY_PUSH_PROGRESS_KEY },
        task: async (_ctx, task) => {
          const stop = followProgress(options.progress, REGISTRY_PUSH_PROGRESS_KEY, task, options.outputIntervalMs);
          const push = await registry.push().finally(stop);
          task.title = `Push what the registry lacks  ${push.blobsUploaded} blobs sent (${formatBytes(push.bytesSent)}), ${push.manifestsPut} manifests`;
        },
      },
      {
        title: 'What the registry holds',
        task: async () => {
          const held = await registry.verifyHeld();
          if (!held.ok) throw new Error(`the registry still lacks ${held.missing.join(', ')}`);
        },
      },
    ],
    { ...common(options), exitOnError: true },
  );
}
