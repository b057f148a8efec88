/**
 * `lading install BUNDLE`: verify, preflight, show the plan, ask (unless
 * --yes), then inject into every node and prove it. Agents are removed on
 * success, failure and Ctrl-C alike.
 */
import { createInterface } from 'node:readline/promises';
import { AbortError, ExitCode } from '../../core/errors.js';
import { ProgressHub, formatBytes } from '../../core/progress.js';
import { connectCluster } from '../../core/cluster/kube.js';
import { InstallJob, type InstallReport, type NodePlan } from '../../core/install/install-job.js';
import { buildInstallTasks, buildPreflightTasks, buildRestorePreflightTasks, buildRestoreTasks } from '../../core/tasks/install-tasks.js';
import { onInterrupt } from '../interrupt.js';
import { pickOutputMode, writeJson, type Streams } from '../output.js';
import { runTasksView } from '../views.js';

export interface InstallFlags {
  kubeconfig?: string;
  context?: string;
  nodes?: string;
  namespace: string;
  yes?: boolean;
  json?: boolean;
  tui?: boolean;
  agentImage?: string;
  containerdSocket?: string;
  ctr?: string;
  imageStore?: string;
  containerdConfig?: string;
  mirrorAuth?: string;
  mirrorAuthSecret?: string;
  storageConf?: string;
  smokeImage?: string;
  restore?: boolean;
  concurrency: string;
}

export function planLines(plans: NodePlan[], mirrors: Array<{ registry: string; endpoints: string[] }> = []): string[] {
  const lines = ['Plan:'];
  for (const plan of plans) {
    const present = new Set(plan.alreadyPresent);
    const toInject = plan.archive.images.filter(({ image }) => !present.has(image.name));
    const bytes = toInject.reduce((sum, { platform }) => sum + platform.config.size + platform.layers.reduce((a, l) => a + l.size, 0), 0);
    lines.push(
      `  ${plan.facts.name}  ${plan.facts.platform}  ${plan.facts.runtimeVersion}${plan.facts.distribution !== 'kubernetes' ? ` (${plan.facts.distribution})` : ''}: ` +
        `inject ${toInject.length} image${toInject.length === 1 ? '' : 's'} (up to ${formatBytes(bytes)})` +
        `${present.size ? `, ${present.size} already present` : ''}` +
        `${plan.imageFsFree !== undefined ? ` (${formatBytes(plan.imageFsFree)} free on its image filesystem)` : ''}; ` +
        (plan.facts.runtime === 'cri-o'
          ? 'into the read-only additional image store; storage.conf lists it (backed up first; CRI-O restarts only if the file changes)'
          : mirrors.length
            ? 'into containerd'
            : 'no runtime configuration is changed'),
    );
  }
  if (mirrors.length) {
    lines.push(
      `  mirrors: ${mirrors.map((m) => `${m.registry} -> ${m.endpoints.join(', ')}`).join('; ')}`,
      '    (containerd: certs.d/<registry>/hosts.toml, config_path enabled if needed, with a restart; CRI-O: a registries.conf.d drop-in and a reload; every file backed up first)',
    );
  }
  return lines;
}

export function reportLines(report: InstallReport): string[] {
  const lines = [`${report.ok ? 'OK' : 'FAILED'}  ${report.cluster.server} (${report.cluster.version})`];
  for (const node of report.nodes) {
    lines.push(`  ${node.node}  ${node.platform}  ${node.runtime}`);
    for (const file of node.changedFiles) lines.push(`    ✔ wrote        ${file} (original backed up)`);
    if (node.error) lines.push(`    ✖ ${node.error}`);
    for (const image of node.images) {
      const mark = image.outcome === 'injected' || image.outcome === 'present' ? '✔' : '✖';
      lines.push(`    ${mark} ${image.outcome.padEnd(12)} ${image.name}${image.detail ? `  (${image.detail})` : ''}`);
    }
    if (node.smoke) lines.push(`    ${node.smoke.ok ? '✔' : '✖'} pod from ${node.smoke.image}: ${node.smoke.detail}`);
  }
  return lines;
}

async function confirm(streams: Streams, question: string): Promise<boolean> {
  const rl = createInterface({ input: streams.stdin, output: streams.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export async function runInstall(bundle: string | undefined, flags: InstallFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
    throw new AbortError(`--concurrency must be a whole number from 1 to 32, got "${flags.concurrency}"`, { exitCode: ExitCode.usage });
  }
  const mode = pickOutputMode(flags, streams, env);
  if (!flags.yes && (mode === 'json' || !streams.stdin.isTTY)) {
    throw new AbortError('install changes nodes and needs confirmation, but there is no terminal to ask on', {
      exitCode: ExitCode.usage,
      hint: 'Pass --yes for unattended runs.',
    });
  }
  if (!bundle && !flags.restore) {
    throw new AbortError('install needs a bundle file (or --restore)', { exitCode: ExitCode.usage, hint: 'lading install BUNDLE, or lading install --restore.' });
  }
  const mirrorAuthFile = flags.mirrorAuth;
  const conn = connectCluster({ ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}), ...(flags.context ? { context: flags.context } : {}) });
  const interrupt = onInterrupt();
  const progress = new ProgressHub();
  const job = new InstallJob({
    bundle: bundle ?? '',
    conn,
    namespace: flags.namespace,
    ...(flags.nodes ? { nodeSelector: flags.nodes } : {}),
    ...(flags.agentImage ? { agentImage: flags.agentImage } : {}),
    ...(flags.containerdSocket ? { containerdSocket: flags.containerdSocket } : {}),
    ...(flags.ctr ? { ctr: flags.ctr } : {}),
    ...(flags.imageStore ? { imageStore: flags.imageStore } : {}),
    ...(flags.containerdConfig ? { containerdConfig: flags.containerdConfig } : {}),
    ...(mirrorAuthFile ? { mirrorAuthFile } : {}),
    ...(flags.mirrorAuthSecret ? { mirrorAuthSecret: flags.mirrorAuthSecret } : {}),
    ...(flags.storageConf ? { storageConf: flags.storageConf } : {}),
    ...(flags.smokeImage ? { smokeImage: flags.smokeImage } : {}),
    progress,
    signal: interrupt.signal,
  });
  let touched = false;
  try {
    if (flags.restore) {
      await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
        buildRestorePreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
      );
      if (!flags.yes && !(await confirm(streams, `Put back the runtime configuration lading changed on ${job.nodes.length} node(s)?`))) {
        streams.stderr.write('Nothing was changed.\n');
        return ExitCode.ok;
      }
      touched = true;
      const ctx = await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
        buildRestoreTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
      );
      if (interrupt.signal.aborted) throw interrupt.signal.reason;
      const report = job.report();
      if (mode === 'json') writeJson(streams.stdout, { ok: !ctx.nodesFailed, nodes: report.nodes.map((n) => ({ node: n.node, restored: n.changedFiles, error: n.error })) });
      else for (const n of report.nodes) streams.stdout.write(`${n.node}: ${n.error ? `✖ ${n.error}` : n.changedFiles.length ? `restored ${n.changedFiles.join(', ')}` : 'nothing to restore'}\n`);
      return ctx.nodesFailed ? ExitCode.node : ExitCode.ok;
    }
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildPreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    if (mode !== 'json') streams.stdout.write(planLines(job.nodes, job.mirrors).join('\n') + '\n');
    if (!flags.yes && !(await confirm(streams, `Install on ${job.nodes.length} node(s)?`))) {
      streams.stderr.write('Nothing was changed.\n');
      return ExitCode.ok;
    }
    touched = true;
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildInstallTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    // Node tasks do not stop each other; an interrupted run still ends as interrupted.
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    const report = job.report();
    if (mode === 'json') writeJson(streams.stdout, report);
    else streams.stdout.write(reportLines(report).join('\n') + '\n');
    return report.ok ? ExitCode.ok : ExitCode.node;
  } catch (error) {
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    if (touched) await job.cleanup();
    interrupt.dispose();
  }
}
