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
import { confirmAndInstall, startClusterRun, type InstallFlags } from './install.js';

export interface CheckFlags extends InstallFlags {
  repair?: boolean;
}

export async function runCheck(bundle: string, flags: CheckFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const run = startClusterRun(bundle, flags, streams, env, flags.repair ? 'check --repair' : undefined);
  const { job, mode, concurrency, progress, interrupt } = run;
  try {
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
