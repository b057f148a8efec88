/**
 * `lading inventory -o FILE`: what every node's runtime holds, written for
 * `lading create --against FILE`. Changes nothing on the nodes (an agent pod
 * per node lists, then goes).
 */
import { AbortError, ExitCode } from '../../core/errors.js';
import { makeInventory, writeInventory, type InventoryNode } from '../../core/inventory/inventory.js';
import { registryInventory } from '../../core/inventory/registry-inventory.js';
import { buildInventoryTasks, buildRestorePreflightTasks } from '../../core/tasks/install-tasks.js';
import { formatBytes } from '../../core/progress.js';
import { writeJson, type Streams } from '../output.js';
import { runTasksView } from '../views.js';
import { startClusterRun, type InstallFlags } from './install.js';

export interface InventoryFlags extends InstallFlags {
  output: string;
}

export async function runInventory(flags: InventoryFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const run = startClusterRun('', flags, streams, env);
  const { job, mode, concurrency, progress, interrupt } = run;
  try {
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildRestorePreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    const found = new Map<string, InventoryNode>();
    const ctx = await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildInventoryTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }, found),
    );
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    // An inventory missing a node would let a delta leave out what that node lacks: all or nothing.
    if (ctx.nodesFailed) {
      const failed = job.report().nodes.filter((n) => n.error).map((n) => `${n.node}: ${n.error}`);
      throw new AbortError(`no inventory written: ${ctx.nodesFailed} node${ctx.nodesFailed === 1 ? '' : 's'} could not be asked (${failed.join('; ')})`, {
        exitCode: ExitCode.node,
        hint: 'Fix those nodes, or leave them out with --nodes SELECTOR (a delta made from the file is then only for the nodes it lists).',
      });
    }
    const uid = await job.clusterUid();
    const registry = await registryInventory(job.connection, flags.namespace);
    const inventory = makeInventory({ server: job.connection.server, ...(uid ? { uid } : {}), version: job.clusterVersion }, [...found.values()], registry);
    const written = await writeInventory(flags.output, inventory);
    const summary = { ok: true, output: flags.output, bytes: written.bytes, sha256: written.sha256, cluster: inventory.cluster, ...(registry ? { registry: { service: registry.service, images: Object.keys(registry.images).length, blobs: registry.blobs.length } } : {}), nodes: inventory.nodes.map((n) => ({ name: n.name, platform: n.platform, runtime: n.runtime, images: Object.keys(n.images).length, blobs: n.blobs.length })) };
    if (mode === 'json') writeJson(streams.stdout, summary);
    else
      streams.stdout.write(
        [
          `✔ wrote ${flags.output} (${formatBytes(written.bytes)}, ${written.sha256})`,
          `  cluster ${inventory.cluster.server}${uid ? ` (kube-system uid ${uid})` : ' (its kube-system uid is not readable: a delta from this file cannot be tied to this cluster)'}`,
          ...summary.nodes.map((n) => `  ${n.name}  ${n.platform}  ${n.runtime}: ${n.images} image names, ${n.blobs} blobs`),
          ...(registry ? [`  registry ${registry.service}: ${Object.keys(registry.images).length} images, ${registry.blobs.length} blobs`] : []),
          `Next: lading create SPEC --against ${flags.output}`,
        ].join('\n') + '\n',
      );
    return ExitCode.ok;
  } catch (error) {
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    await job.cleanup();
    interrupt.dispose();
  }
}
