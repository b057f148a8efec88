/**
 * `lading install BUNDLE`: verify, preflight, show the plan, ask (unless
 * --yes), then inject into every node and prove it. Agents are removed on
 * success, failure and Ctrl-C alike.
 */
import { AbortError, ExitCode } from '../../core/errors.js';
import { ProgressHub } from '../../core/progress.js';
import { connectCluster } from '../../core/cluster/kube.js';
import { InstallJob } from '../../core/install/install-job.js';
import { bytesToAdd, plannedImages } from '../../core/install/plan.js';
import type { InstallReport } from '../../core/install/report.js';
import { planLines, reportLines, restoreLines } from '../../ui/install-lines.js';
import { buildInstallTasks, buildPreflightTasks, buildRestorePreflightTasks, buildRestoreTasks } from '../../core/tasks/install-tasks.js';
import { traced } from '../../core/util/trace.js';
import { onInterrupt, type Interrupt } from '../interrupt.js';
import { RegistryMode } from '../../core/registry/registry-mode.js';
import { AUTH_SECRET } from '../../core/registry/auth.js';
import { buildConfigMapRegistryTasks, buildRegistryTasks } from '../../core/tasks/registry-tasks.js';
import { chooseBootstrap, type Bootstrap } from '../../core/registry/bootstrap-choice.js';
import { formatBytes } from '../../core/progress.js';
import { pickOutputMode, writeJson, type OutputMode, type Streams } from '../output.js';
import { confirmInView, runTasksView } from '../views.js';

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
  /** install only: preflight and the plan, then stop. */
  dryRun?: boolean;
  registry?: boolean;
  registryNode?: string;
  registryAuth?: boolean;
  bootstrap?: string;
  /** commander's --no-node-access: false when given. */
  nodeAccess?: boolean;
  concurrency: string;
  keepFree: string;
  transport?: string;
}

/** What install and check share: validated flags, the output mode, the job, Ctrl-C as a signal. */
export interface ClusterRun {
  job: InstallJob;
  mode: OutputMode;
  concurrency: number;
  progress: ProgressHub;
  interrupt: Interrupt;
}

/**
 * Checks the flags and sets up a run against the cluster. `confirmation`
 * names the command when it may ask before changing nodes: without a
 * terminal to ask on, that needs --yes.
 */
export function startClusterRun(bundle: string, flags: InstallFlags, streams: Streams, env: NodeJS.ProcessEnv, confirmation?: string): ClusterRun {
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
    throw new AbortError(`--concurrency must be a whole number from 1 to 32, got "${flags.concurrency}"`, { exitCode: ExitCode.usage });
  }
  const keepFreePercent = Number(flags.keepFree);
  if (!/^\d+$/.test(flags.keepFree) || keepFreePercent > 99) {
    throw new AbortError(`--keep-free must be a whole percentage from 0 to 99, got "${flags.keepFree}"`, { exitCode: ExitCode.usage });
  }
  const mode = pickOutputMode(flags, streams, env);
  if (confirmation && !flags.yes && !flags.dryRun && (mode === 'json' || !streams.stdin.isTTY)) {
    throw new AbortError(`${confirmation} changes nodes and needs confirmation, but there is no terminal to ask on`, {
      exitCode: ExitCode.usage,
      hint: 'Pass --yes for unattended runs.',
    });
  }
  const conn = connectCluster({ ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}), ...(flags.context ? { context: flags.context } : {}) });
  const interrupt = onInterrupt();
  const progress = new ProgressHub();
  const job = new InstallJob({
    bundle,
    conn,
    namespace: flags.namespace,
    ...(flags.nodes ? { nodeSelector: flags.nodes } : {}),
    ...(flags.agentImage ? { agentImage: flags.agentImage } : {}),
    ...(flags.containerdSocket ? { containerdSocket: flags.containerdSocket } : {}),
    ...(flags.ctr ? { ctr: flags.ctr } : {}),
    ...(flags.imageStore ? { imageStore: flags.imageStore } : {}),
    ...(flags.containerdConfig ? { containerdConfig: flags.containerdConfig } : {}),
    ...(flags.mirrorAuth ? { mirrorAuthFile: flags.mirrorAuth } : {}),
    ...(flags.mirrorAuthSecret ? { mirrorAuthSecret: flags.mirrorAuthSecret } : {}),
    ...(flags.storageConf ? { storageConf: flags.storageConf } : {}),
    ...(flags.smokeImage ? { smokeImage: flags.smokeImage } : {}),
    ...(flags.transport === 'exec' || flags.transport === 'proxy' ? { transport: flags.transport } : {}),
    keepFreePercent,
    progress,
    signal: interrupt.signal,
  });
  return { job, mode, concurrency, progress, interrupt };
}

/**
 * The part of install that changes nodes, once preflight built the plan:
 * shows it, asks (unless --yes), then works on the job's nodes. Undefined
 * when the operator said no; `onConfirmed` runs before anything changes.
 */
export async function confirmAndInstall(run: ClusterRun, flags: InstallFlags, streams: Streams, question: string, onConfirmed?: () => void): Promise<InstallReport | undefined> {
  const { job, mode, concurrency, progress, interrupt } = run;
  const plan = planLines(job.nodes, job.mirrors);
  if (flags.dryRun) return showDryRun(run, streams, plan);
  if (flags.yes && mode !== 'json') streams.stdout.write(plan.join('\n') + '\n');
  if (!flags.yes && !(await confirmInView(mode, streams, plan, question))) {
    streams.stderr.write('Nothing was changed.\n');
    return undefined;
  }
  onConfirmed?.();
  await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
    buildInstallTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
  );
  // Node tasks do not stop each other; an interrupted run still ends as interrupted.
  if (interrupt.signal.aborted) throw interrupt.signal.reason;
  return job.report();
}

/** --dry-run: the plan, as lines or JSON (with what each node lacks); nothing was created or changed. */
function showDryRun(run: ClusterRun, streams: Streams, plan: string[]): undefined {
  if (run.mode === 'json') {
    writeJson(streams.stdout, {
      ok: true,
      dryRun: true,
      plan,
      nodes: run.job.nodes.map((n) => ({
        node: n.facts.name,
        platform: n.facts.platform,
        runtime: n.facts.runtimeVersion,
        images: plannedImages(n).map((i) => i.name),
        alreadyPresent: n.alreadyPresent,
        bytesToAdd: bytesToAdd(n),
      })),
    });
  } else {
    streams.stdout.write(`${plan.join('\n')}\nDry run: nothing was created or changed.\n`);
  }
  return undefined;
}

/** Registry mode, after preflight: the registry's own checks, the plan, the question, then its tasks. */
async function installRegistry(run: ClusterRun, flags: InstallFlags, streams: Streams, bootstrap: { bootstrap: Bootstrap; reason: string }, onConfirmed: () => void): Promise<InstallReport | undefined> {
  const { job, mode, concurrency, progress, interrupt } = run;
  const registry = new RegistryMode({
    conn: job.connection,
    namespace: flags.namespace,
    bundle: job.bundle,
    progress,
    signal: interrupt.signal,
    keepFreePercent: Number(flags.keepFree),
    auth: flags.registryAuth === true,
    bootstrap: bootstrap.bootstrap,
    ...(flags.registryNode ? { node: flags.registryNode } : {}),
  });
  const placement = await registry.preflight(job.metadata, job.nodes);
  const injector = registry.injectorPlan;
  const plan = injector
    ? [
        `Registry: ${placement.image} on node ${placement.node}, bootstrapped by the ConfigMap injector (${bootstrap.reason}):`,
        `  ${injector.summary.configMaps} ConfigMaps (${formatBytes(injector.summary.bytes)}: the injector, ${formatBytes(injector.injector.size)}, its loader, and the registry image's blobs for ${injector.node.platform}),`,
        `  the injector run as a restricted pod on ${injector.image} on that node, reached by its runtime as 127.0.0.1:NODEPORT (${injector.proxy}); all removed once the registry runs;`,
        `  data in an emptyDir: ${placement.storage.reason};`,
        `  every image pushed through the API server${placement.auth ? ` (htpasswd credentials in Secret ${flags.namespace}/${AUTH_SECRET}, pushes through its gate)` : ''}; no node is configured: on every node pods pull by in-cluster references (127.0.0.1:NODEPORT/..., listed at the end)${placement.auth ? ' with imagePullSecrets lading-registry-pull' : ''}.`,
      ]
    : placement.bootstrap === 'configmap'
      ? [
          `Registry: ${placement.image} runs already on node ${placement.node} (ConfigMap bootstrap; ${bootstrap.reason}): kept, with what it holds;`,
          `  what it lacks is pushed through the API server; on every node pods pull by in-cluster references (listed at the end).`,
        ]
      : [
        ...planLines(job.nodes, registry.mirrors(job.mirrors)),
        `Registry: ${placement.image} on node ${placement.node} (node injection, pinned; ${bootstrap.reason});`,
        `  data in hostPath ${placement.storage.path} on that node: ${placement.storage.reason};`,
        `  every image pushed through the API server; every node pulls from ${registry.report!.endpoint} by the images' original names${placement.auth ? ` with htpasswd credentials (Secret ${flags.namespace}/${AUTH_SECRET}; pushes through its gate on port ${placement.auth.pushPort})` : ''}.`,
      ];
  if (flags.dryRun) return showDryRun(run, streams, plan);
  if (flags.yes && mode !== 'json') streams.stdout.write(plan.join('\n') + '\n');
  if (!flags.yes && !(await confirmInView(mode, streams, plan, `Run the registry and point ${job.nodes.length} node(s) at it?`))) {
    streams.stderr.write('Nothing was changed.\n');
    return undefined;
  }
  onConfirmed();
  await traced('install: registry tasks', () =>
    runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      (placement.bootstrap === 'configmap' ? buildConfigMapRegistryTasks : buildRegistryTasks)(job, registry, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    ),
  );
  if (interrupt.signal.aborted) throw interrupt.signal.reason;
  const report = job.report();
  return { ...report, ok: report.ok && registry.report?.held?.ok === true, ...(registry.report ? { registry: registry.report } : {}) };
}

export async function runInstall(bundle: string | undefined, flags: InstallFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  if (!bundle && !flags.restore) {
    throw new AbortError('install needs a bundle file (or --restore)', { exitCode: ExitCode.usage, hint: 'lading install BUNDLE, or lading install --restore.' });
  }
  if (flags.bootstrap !== undefined && flags.bootstrap !== 'exec' && flags.bootstrap !== 'configmap') {
    throw new AbortError(`--bootstrap must be exec or configmap, got "${flags.bootstrap}"`, { exitCode: ExitCode.usage });
  }
  if (flags.nodeAccess === false && flags.bootstrap === 'exec') {
    throw new AbortError('--no-node-access and --bootstrap exec exclude each other: node injection works through the node', { exitCode: ExitCode.usage, hint: 'Leave out --bootstrap (--no-node-access means the ConfigMap bootstrap).' });
  }
  if (flags.dryRun && flags.restore) throw new AbortError('--dry-run and --restore exclude each other', { exitCode: ExitCode.usage, hint: 'lading install BUNDLE --dry-run shows the plan of an install.' });
  for (const [set, flag] of [[flags.registryAuth, '--registry-auth'], [flags.registryNode, '--registry-node'], [flags.bootstrap, '--bootstrap'], [flags.nodeAccess === false, '--no-node-access']] as const) {
    if (set && !flags.registry) throw new AbortError(`${flag} belongs to registry mode`, { exitCode: ExitCode.usage, hint: `lading install BUNDLE --registry ${flag}${flag === '--registry-node' ? ' NAME' : ''}.` });
  }
  const run = startClusterRun(bundle ?? '', flags, streams, env, 'install');
  const { job, mode, concurrency, progress, interrupt } = run;
  let touched = false;
  try {
    if (flags.restore) {
      await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
        buildRestorePreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
      );
      if (!flags.yes && !(await confirmInView(mode, streams, [], `Put back the runtime configuration lading changed on ${job.nodes.length} node(s)?`))) {
        streams.stderr.write('Nothing was changed.\n');
        return ExitCode.ok;
      }
      touched = true;
      const ctx = await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
        buildRestoreTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
      );
      if (interrupt.signal.aborted) throw interrupt.signal.reason;
      const report = job.report();
      if (mode === 'json') writeJson(streams.stdout, { ok: !ctx.nodesFailed, nodes: report.nodes.map((n) => ({ node: n.node, restored: n.changedFiles, unpinned: n.unpinned ?? [], error: n.error })) });
      else streams.stdout.write(restoreLines(report.nodes).join('\n') + '\n');
      return ctx.nodesFailed ? ExitCode.node : ExitCode.ok;
    }
    let bootstrap: { bootstrap: Bootstrap; reason: string } | undefined;
    if (flags.registry) {
      bootstrap =
        flags.nodeAccess === false
          ? { bootstrap: 'configmap', reason: '--no-node-access' }
          : flags.bootstrap
            ? { bootstrap: flags.bootstrap as Bootstrap, reason: `--bootstrap ${flags.bootstrap}` }
            : await chooseBootstrap(job.connection, flags.namespace);
      job.useBootstrap(bootstrap.bootstrap);
    }
    await runTasksView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildPreflightTasks(job, { renderer, rendererOptions, concurrency, progress, outputIntervalMs }),
    );
    if (flags.registry) {
      const report = await installRegistry(run, flags, streams, bootstrap!, () => (touched = true));
      if (!report) return ExitCode.ok;
      if (mode === 'json') writeJson(streams.stdout, report);
      else streams.stdout.write(reportLines(report).join('\n') + '\n');
      return report.ok ? ExitCode.ok : ExitCode.node;
    }
    const report = await confirmAndInstall(run, flags, streams, `Install on ${job.nodes.length} node(s)?`, () => (touched = true));
    if (!report) return ExitCode.ok;
    if (mode === 'json') writeJson(streams.stdout, report);
    else streams.stdout.write(reportLines(report).join('\n') + '\n');
    return report.ok ? ExitCode.ok : ExitCode.node;
  } catch (error) {
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    if (touched) await traced('install: removing the agents', () => job.cleanup());
    interrupt.dispose();
  }
}
