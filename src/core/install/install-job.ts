/**
 * One `lading install` run, in steps a task list can show: verify the bundle,
 * preflight the cluster (changes nothing), then per node: an agent pod, the
 * node's containerd, the images it lacks streamed through the API server as
 * an archive of that node's platform, and proof that they are there (digests
 * in the runtime, a pod started from an injected image without pulling).
 * Agents are removed whatever happens.
 */
import { AbortError, ExitCode } from '../errors.js';
import { ProgressMeter, type ProgressHub } from '../progress.js';
import { BundleReader } from '../bundle/reader.js';
import { verifyBundle } from '../bundle/verify.js';
import type { BundleImage, BundleMetadata } from '../bundle/layout.js';
import { digestName, planNodeArchive, streamNodeArchive, type NodeArchivePlan } from '../bundle/node-archive.js';
import { removeAgent, removeAgents, startAgent, type NodeAgent } from '../cluster/agent.js';
import type { ClusterConnection } from '../cluster/kube.js';
import {
  checkPermissions,
  clusterVersion,
  ensureNamespace,
  installPermissions,
  listNodes,
  type NodeFacts,
} from '../cluster/preflight.js';
import { announcedSocket, detectContainerd, freeBytes, importArchive, listImages, type ContainerdOnNode } from '../runtimes/containerd.js';
import { runSmokePod } from './smoke.js';

export interface InstallOptions {
  bundle: string;
  conn: ClusterConnection;
  namespace: string;
  nodeSelector?: string;
  agentImage?: string;
  containerdSocket?: string;
  ctr?: string;
  progress: ProgressHub;
  signal?: AbortSignal;
}

export type ImageOutcome = 'injected' | 'present' | 'missing' | 'wrong-digest';

export interface NodeReport {
  node: string;
  platform: string;
  runtime: string;
  images: Array<{ name: string; digest: string; outcome: ImageOutcome; detail?: string }>;
  smoke?: { image: string; ok: boolean; detail: string };
  injectedBytes: number;
  /** Wall time of the import stream alone (agent start, checks and smoke pods excluded). */
  injectMs: number;
  error?: string;
}

export interface InstallReport {
  ok: boolean;
  bundle: string;
  cluster: { server: string; version: string };
  nodes: NodeReport[];
}

export interface NodePlan {
  facts: NodeFacts;
  archive: NodeArchivePlan;
  /** Images the node status already lists under the same name and digest. */
  alreadyPresent: string[];
  report: NodeReport;
}

export const VERIFY_PROGRESS_KEY = 'bundle:verify';

export class InstallJob {
  readonly #options: InstallOptions;
  #metadata: BundleMetadata | undefined;
  #version = '';
  nodes: NodePlan[] = [];

  constructor(options: InstallOptions) {
    this.#options = options;
  }

  /** Step 1: every blob of the bundle hashed, every reference checked, before the cluster is touched. */
  async verifyBundle(): Promise<BundleMetadata> {
    const { bundle, progress, signal } = this.#options;
    let meter: ProgressMeter | undefined;
    const report = await verifyBundle(bundle, {
      ...(signal ? { signal } : {}),
      onStart: (total) => (meter = new ProgressMeter(total)),
      onBytes: (n) => {
        meter!.advance(n);
        progress.publish({ key: VERIFY_PROGRESS_KEY, progress: meter!.snapshot() });
      },
    });
    if (!report.ok) {
      throw new AbortError(`${bundle} failed verification: ${report.problems.map((p) => p.message).join('; ')}`, {
        exitCode: ExitCode.integrity,
        hint: 'Nothing was changed on the cluster. Copy the bundle again and compare its sha256 with lading create\'s.',
      });
    }
    const reader = await BundleReader.open(bundle);
    try {
      this.#metadata = await reader.metadata();
    } finally {
      await reader.close();
    }
    return this.#metadata;
  }

  /** Step 2: cluster, permissions, nodes and their platforms; builds the plan. Changes nothing. */
  async preflight(): Promise<NodePlan[]> {
    const { conn, namespace, nodeSelector } = this.#options;
    const metadata = this.#requireMetadata();
    this.#version = await clusterVersion(conn);
    await checkPermissions(conn, installPermissions(namespace));
    const nodes = await listNodes(conn, nodeSelector);
    const mismatched: string[] = [];
    this.nodes = nodes.map((facts) => {
      const archive = planNodeArchive(metadata.images, facts.platform);
      if (archive.images.length === 0) mismatched.push(`${facts.name} (${facts.platform})`);
      const alreadyPresent = archive.images
        .filter(({ image }) => facts.images.has(image.name) && facts.images.has(digestName(image) ?? image.name))
        .map(({ image }) => image.name);
      return {
        facts,
        archive,
        alreadyPresent,
        report: { node: facts.name, platform: facts.platform, runtime: facts.runtimeVersion, images: [], injectedBytes: 0, injectMs: 0 },
      };
    });
    if (mismatched.length) {
      throw new AbortError(`no image in the bundle runs on node ${mismatched.join(', ')}; the bundle carries ${metadata.platforms.join(', ')}`, {
        exitCode: ExitCode.node,
        hint: 'Add the node platforms to the spec and create the bundle again, or narrow --nodes.',
      });
    }
    const unsupported = this.nodes.filter((n) => n.facts.runtime !== 'containerd');
    if (unsupported.length) {
      throw new AbortError(
        `nodes with a runtime lading cannot inject into yet: ${unsupported.map((n) => `${n.facts.name} (${n.facts.runtimeVersion || 'unknown'})`).join(', ')}`,
        { exitCode: ExitCode.node, hint: 'This version injects into containerd nodes; narrow --nodes to those.' },
      );
    }
    const notReady = this.nodes.filter((n) => !n.facts.ready);
    if (notReady.length) {
      throw new AbortError(`nodes not Ready: ${notReady.map((n) => n.facts.name).join(', ')}`, {
        exitCode: ExitCode.node,
        hint: 'Wait for them to be Ready, or leave them out with --nodes.',
      });
    }
    return this.nodes;
  }

  /** The one change before agents start: lading's namespace, labelled for privileged agents. */
  async prepareNamespace(): Promise<void> {
    await ensureNamespace(this.#options.conn, this.#options.namespace);
  }

  /** Step 3 for one node: agent, runtime, what it lacks, space, the import, and the proof. */
  async installNode(plan: NodePlan, onStage: (stage: string) => void): Promise<NodeReport> {
    const { conn, namespace, signal, progress } = this.#options;
    const report = plan.report;
    let agent: NodeAgent | undefined;
    try {
      onStage('starting agent');
      agent = await startAgent(conn, {
        namespace,
        node: plan.facts.node,
        ...(this.#options.agentImage ? { image: this.#options.agentImage } : {}),
        ...(signal ? { signal } : {}),
      });
      onStage('finding containerd');
      const runtime = await detectContainerd(agent, {
        ...(this.#options.containerdSocket ? { socket: this.#options.containerdSocket } : {}),
        ...(this.#options.ctr ? { ctr: this.#options.ctr } : {}),
        ...(announcedSocket(plan.facts.node.metadata?.annotations) ? { announced: announcedSocket(plan.facts.node.metadata?.annotations)! } : {}),
      });
      report.runtime = `${plan.facts.runtimeVersion} (${runtime.socket})`;
      const before = await listImages(agent, runtime);
      const missing = plan.archive.images.filter(({ image }) => {
        const pinned = digestName(image);
        return before.get(image.name) !== image.root.digest || (pinned !== undefined && before.get(pinned) !== image.root.digest);
      });
      const toInject = planNodeArchive(
        missing.map((m) => m.image),
        plan.facts.platform,
      );
      const meter = new ProgressMeter(toInject.bytes);
      const key = `node:${plan.facts.name}`;
      progress.publish({ key, progress: meter.snapshot() });
      if (toInject.images.length > 0) {
        await this.#checkSpace(agent, runtime, toInject);
        onStage(`injecting ${toInject.images.length} images`);
        const started = performance.now();
        await this.#inject(agent, runtime, toInject, (n) => {
          meter.advance(n);
          progress.publish({ key, progress: meter.snapshot() });
        });
        report.injectedBytes = toInject.bytes;
        report.injectMs = Math.round(performance.now() - started);
      }
      meter.complete();
      progress.publish({ key, progress: meter.snapshot() });

      onStage('verifying');
      const after = await listImages(agent, runtime);
      const injected = new Set(toInject.images.map((i) => i.image.name));
      report.images = plan.archive.images.map(({ image }) => {
        const digest = after.get(image.name);
        const outcome: ImageOutcome =
          digest === undefined ? 'missing' : digest !== image.root.digest ? 'wrong-digest' : injected.has(image.name) ? 'injected' : 'present';
        return { name: image.name, digest: image.root.digest, outcome, ...(digest && digest !== image.root.digest ? { detail: `node has ${digest}` } : {}) };
      });
      const first = plan.archive.images[0]!.image;
      onStage(`starting a pod from ${first.name}`);
      report.smoke = await runSmokePod(conn, { namespace, node: plan.facts.name, image: first, ...(signal ? { signal } : {}) });
      return report;
    } catch (error) {
      report.error = (error as Error).message;
      throw error;
    } finally {
      if (agent) await removeAgent(conn, namespace, agent.pod);
    }
  }

  async #checkSpace(agent: NodeAgent, runtime: ContainerdOnNode, plan: NodeArchivePlan): Promise<void> {
    const free = await freeBytes(agent, runtime);
    // Content plus unpacked layers: about twice the archive, plus a margin.
    const needed = plan.bytes * 2 + (256 << 20);
    if (free !== undefined && free < needed) {
      throw new AbortError(
        `node ${agent.node}: ${Math.floor(free / 2 ** 20)} MiB free under ${runtime.root}, the import needs about ${Math.ceil(needed / 2 ** 20)} MiB`,
        { exitCode: ExitCode.node, hint: 'Free space on the node\'s image filesystem, or inject fewer images.' },
      );
    }
  }

  async #inject(agent: NodeAgent, runtime: ContainerdOnNode, plan: NodeArchivePlan, onBytes: (n: number) => void): Promise<void> {
    const reader = await BundleReader.open(this.#options.bundle);
    try {
      const archive = streamNodeArchive(reader, plan, { onBytes });
      await importArchive(agent, runtime, archive, this.#options.signal);
    } finally {
      await reader.close();
    }
  }

  /** Removes every agent pod, whatever happened (also after Ctrl-C). */
  async cleanup(): Promise<void> {
    await removeAgents(this.#options.conn, this.#options.namespace);
  }

  report(): InstallReport {
    const nodes = this.nodes.map((n) => n.report);
    const ok = nodes.every((n) => !n.error && n.images.length > 0 && n.images.every((i) => i.outcome === 'injected' || i.outcome === 'present') && n.smoke?.ok);
    return { ok, bundle: this.#options.bundle, cluster: { server: this.#options.conn.server, version: this.#version }, nodes };
  }

  #requireMetadata(): BundleMetadata {
    if (!this.#metadata) throw new Error('InstallJob.preflight before verifyBundle');
    return this.#metadata;
  }
}
