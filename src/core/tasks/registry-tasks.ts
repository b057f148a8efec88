/**
 * The listr2 task graph for `lading install --registry`, once the operator
 * agreed to the plan: the registry's image onto its node (node injection),
 * the registry started, every image pushed through the API server, every node
 * pointed at it and proven to pull from it (one row per node, a failing node
 * does not stop the others), then the registry's own account of what it holds.
 */
import { Listr, type ListrRendererValue, type ListrTask } from 'listr2';
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
      pushTask(registry, images.length, options),
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
      heldTask(registry, images.length),
    ],
    { ...common(options), exitOnError: true },
  );
}

function pushTask<R extends ListrRendererValue>(registry: RegistryMode, count: number, options: InstallTaskOptions<R>): ListrTask<InstallContext, any, any> {
  return {
    title: `Push ${count} image${count === 1 ? '' : 's'} through the API server`,
    rendererOptions: { progressKey: REGISTRY_PUSH_PROGRESS_KEY },
    task: async (_ctx, task) => {
      const stop = followProgress(options.progress, REGISTRY_PUSH_PROGRESS_KEY, task, options.outputIntervalMs);
      const push = await registry.push().finally(stop);
      task.title = `Push ${push.images} image${push.images === 1 ? '' : 's'} through the API server  ${push.blobsUploaded} blobs sent (${formatBytes(push.bytesSent)}), ${push.blobsPresent} already there, ${push.manifestsPut} manifests`;
    },
  };
}

function heldTask(registry: RegistryMode, count: number): ListrTask<InstallContext, any, any> {
  return {
    title: 'The registry holds every image by digest and tag',
    task: async (_ctx, task) => {
      const held = await registry.verifyHeld();
      if (!held.ok) throw new Error(`the registry lacks ${held.missing.join(', ')}`);
      task.title = `The registry holds all ${count} images by digest and tag`;
    },
  };
}

/**
 * `lading install --registry` with the ConfigMap bootstrap (no exec, no privileged pod, no node
 * configuration): the registry image and the injector carried in ConfigMaps, the registry started from the
 * injector on its node, the injector removed, every image pushed through the API server, and on every node
 * a restricted pod per image by its in-cluster reference (127.0.0.1:NODEPORT/...) must pull.
 */
export function buildConfigMapRegistryTasks<R extends ListrRendererValue>(job: InstallJob, registry: RegistryMode, options: InstallTaskOptions<R>): Listr<InstallContext, any, any> {
  const { node } = registry.placement;
  // No plan: the registry runs already, and is kept.
  const plan = registry.injectorPlan;
  const images = job.metadata.images;
  return new Listr<InstallContext, any, any>(
    [
      { title: 'Prepare lading\'s namespace', task: () => job.prepareNamespace() },
      {
        title: plan ? `Carry the registry image in ${plan.summary.configMaps} ConfigMaps (${formatBytes(plan.summary.bytes)})` : 'Carry the registry image in ConfigMaps',
        enabled: plan !== undefined,
        task: async (_ctx, task) => {
          if (!plan) return;
          const started = performance.now();
          await registry.carryInConfigMaps((done, total) => (task.output = `${done} of ${total} ConfigMaps written`));
          task.title = `Carry the registry image in ${plan.summary.configMaps} ConfigMaps (${formatBytes(plan.summary.bytes)})  written in ${((performance.now() - started) / 1000).toFixed(1)} s`;
        },
      },
      {
        title: `Start the registry on ${node} from the injector`,
        enabled: plan !== undefined,
        task: async (_ctx, task) => {
          const times = await registry.startFromInjector((stage) => (task.output = stage));
          task.title = `Start the registry on ${node} from the injector  injector serving after ${(times.injectorReadyMs / 1000).toFixed(1)} s, registry ready after ${(times.registryReadyMs / 1000).toFixed(1)} s; injector and its ConfigMaps removed`;
        },
      },
      pushTask(registry, images.length, options),
      {
        title: `Pull by in-cluster reference on ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'}`,
        task: async (_ctx, parent) => {
          const nodePort = await registry.locateNodePort();
          const references = registry.references().map((r) => r.reference);
          parent.title = `Pull by in-cluster reference (127.0.0.1:${nodePort}/...) on ${job.nodes.length} node${job.nodes.length === 1 ? '' : 's'}`;
          return parent.newListr(
            job.nodes.map((nodePlan) => ({
              title: `${nodePlan.facts.name}  ${nodePlan.facts.platform}`,
              task: async (ctx: InstallContext, task) => {
                try {
                  const report = await job.pullByReference(nodePlan, images, references, registry.pullSecrets());
                  const pulled = report.images.filter((i) => i.proof?.byPull).length;
                  task.title = `${nodePlan.facts.name}  ${pulled} of ${images.length} pulled from the registry by in-cluster reference`;
                  if (!report.smoke?.ok) throw new Error(`${nodePlan.facts.name}: ${report.smoke?.detail ?? 'pulls failed'}`);
                } catch (error) {
                  ctx.nodesFailed = (ctx.nodesFailed ?? 0) + 1;
                  throw error;
                }
              },
            })),
            { concurrent: options.concurrency, exitOnError: false },
          );
        },
      },
      heldTask(registry, images.length),
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
