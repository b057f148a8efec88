/**
 * `lading check BUNDLE`: after a node's hard reset (or any time), which of
 * the bundle's images each node's runtime still holds, by name and digest.
 * Changes nothing on the nodes. With --repair, the nodes that lost images go
 * through install again (bundle verified in full, plan, confirmation), which
 * streams in only what is missing.
 */
import { ExitCode } from '../../core/errors.js';
import { buildCheckTasks, buildPreflightTasks } from '../../core/tasks/install-tasks.js';
import { reportLines } from '../../ui/install-lines.js';
import { writeJson, type Streams } from '../output.js';
import { runTasksView } from '../views.js';
import { confirmAndInstall, startClusterRun, type ClusterRun, type InstallFlags } from './install.js';
import { RegistryMode } from '../../core/registry/registry-mode.js';
import { buildRegistryCheckTasks, buildRegistryRepairTasks } from '../../core/tasks/registry-tasks.js';
import { registryLines } from '../../ui/install-lines.js';
import { confirmInView } from '../views.js';

export interface CheckFlags extends InstallFlags {
  repair?: boolean;
}

/**
 * `check --registry`: the in-cluster registry's pod, its own image on its
 * node and what it holds against the bundle; `--repair` brings back what is
 * missing (its image, its pod, the images it lacks). Exit 10 when anything is.
 */
async function runRegistryCheck(run: ClusterRun, flags: CheckFlags, streams: Streams): Promise<number> {
  const { job, mode, concurrency, progress, interrupt } = run;
  await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
    buildPreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }, { forCheck: true }),
  );
  const registry = new RegistryMode({ conn: job.connection, namespace: flags.namespace, bundle: job.bundle, progress, signal: interrupt.signal });
  await registry.preflight(job.metadata, job.nodes, { mustRun: true });
  await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
    buildRegistryCheckTasks(job, registry, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
  );
  if (interrupt.signal.aborted) throw interrupt.signal.reason;
  const healthy = () => registry.report?.health?.ready === true && registry.report.held?.ok === true && registry.report.bootstrap?.outcome === 'present';
  const checked = { ok: healthy(), registry: { ...registry.report! } };
  if (flags.repair && !checked.ok) {
    if (mode !== 'json') streams.stdout.write(registryLines(checked.registry).join('\n') + '\n');
    if (!flags.yes && !(await confirmInView(mode, streams, [], 'Repair the registry (its image, its pod, the images it lacks)?'))) return ExitCode.node;
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildRegistryRepairTasks(job, registry, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    const repaired = { ok: registry.report?.held?.ok === true, registry: registry.report!, check: checked.registry };
    if (mode === 'json') writeJson(streams.stdout, repaired);
    else streams.stdout.write([`${repaired.ok ? '✔ repaired' : '✖ repair failed'}`, ...registryLines(repaired.registry)].join('\n') + '\n');
    return repaired.ok ? ExitCode.ok : ExitCode.node;
  }
  if (mode === 'json') writeJson(streams.stdout, checked);
  else streams.stdout.write([checked.ok ? '✔ OK (the registry is ready and holds every image)' : '✖ FAILED (the registry needs a repair: lading check --registry --repair)', ...registryLines(checked.registry)].join('\n') + '\n');
  return checked.ok ? ExitCode.ok : ExitCode.node;
}

export async function runCheck(bundle: string, flags: CheckFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const run = startClusterRun(bundle, flags, streams, env, flags.repair ? 'check --repair' : undefined);
  const { job, mode, concurrency, progress, interrupt } = run;
  try {
    if (flags.registry) return await runRegistryCheck(run, flags, streams);
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildCheckTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    const checked = job.report({ smoke: false });
    const losses = job.losses();
    const lossy = [...losses.keys()];
    if (!flags.repair || checked.ok) {
      if (mode === 'json') writeJson(streams.stdout, { ...checked, lost: lossy });
      else streams.stdout.write(reportLines(checked, { title: checked.ok ? 'every image present' : 'images lost', check: true }).join('\n') + (checked.ok ? '\n' : '\nlading check --repair (or lading install) streams in only what is missing.\n'));
      return checked.ok ? ExitCode.ok : ExitCode.node;
    }

    if (mode !== 'json') streams.stdout.write(reportLines(checked, { title: 'images lost', check: true }).join('\n') + '\n');
    // The repair is an install on the nodes that lost something: verify, preflight, plan, confirm.
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildPreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    job.narrowToLosses(losses);
    const repaired = await confirmAndInstall(run, flags, streams, `Re-inject on ${job.nodes.length} node(s)?`);
    // Declined: the images are still lost.
    if (!repaired) return ExitCode.node;
    if (mode === 'json') writeJson(streams.stdout, { ...repaired, lost: lossy, check: checked });
    else streams.stdout.write(reportLines(repaired, { title: repaired.ok ? 'repaired' : 'repair failed' }).join('\n') + '\n');
    return repaired.ok ? ExitCode.ok : ExitCode.node;
  } catch (error) {
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    await job.cleanup();
    interrupt.dispose();
  }
}
