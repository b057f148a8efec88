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
import { readDescription } from '../bundle/documents.js';
import type { BundleImage, BundleMetadata } from '../bundle/layout.js';
import { digestName, planNodeArchive, type NodeArchivePlan } from '../bundle/node-archive.js';
import { removeAgent, removeAgents, startAgent, type NodeAgent } from '../cluster/agent.js';
import type { ClusterConnection } from '../cluster/kube.js';
import {
  checkPermissions,
  clusterVersion,
  ensureNamespace,
  imageFsSpace,
  installPermissions,
  listNodes,
  type NodeFacts,
} from '../cluster/preflight.js';
import { applyAfterRestore, driverFor, restoreRuntimeFiles, type DriverOptions, type RuntimeDriver } from './drivers.js';
import { incompleteRestore } from '../config/host-restore.js';
import { waitForNodeReady } from '../cluster/preflight.js';
import { runSmokePod } from './smoke.js';
import { sandboxConflicts } from './sandbox-guard.js';
import { credentialInDocument, type AuthFile } from '../oci/credentials.js';
import { readFile } from 'node:fs/promises';
import { api } from '../cluster/kube.js';
import { ExecConnectionError } from '../cluster/exec.js';
import { sleep } from '../oci/retry.js';
import { DEFAULT_KEEP_FREE_PERCENT, spaceShortfall, type DiskSpace } from './disk-space.js';

export interface InstallOptions extends DriverOptions {
  bundle: string;
  conn: ClusterConnection;
  namespace: string;
  nodeSelector?: string;
  agentImage?: string;
  /** The image the smoke pods start (default: the node's first image). */
  smokeImage?: string;
  /** auth.json / config.json with credentials for the bundle's mirrors (read once the bundle is verified). */
  mirrorAuthFile?: string;
  /** Or a dockerconfigjson Secret holding them: NAME (in --namespace) or NAMESPACE/NAME. */
  mirrorAuthSecret?: string;
  /** Share of each image filesystem that must stay free after injection (default: the kubelet's image GC margin). */
  keepFreePercent?: number;
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
  /** Host files lading changed (install) or put back (restore). */
  changedFiles: string[];
  error?: string;
  /** What the operator can do about `error`. */
  hint?: string;
}

export interface InstallReport {
  ok: boolean;
  bundle: string;
  cluster: { server: string; version: string };
  nodes: NodeReport[];
}

export interface NodePlan {
  facts: NodeFacts;
  /** The image filesystem as the kubelet reports it (undefined: not readable here). */
  imageFs?: DiskSpace;
  archive: NodeArchivePlan;
  /** Images the node status already lists under the same name and digest. */
  alreadyPresent: string[];
  report: NodeReport;
}

export const VERIFY_PROGRESS_KEY = 'bundle:verify';

/** Each of the node's images as its runtime lists it: injected (this run), present, missing or different. */
function imageOutcomes(plan: NodePlan, driver: RuntimeDriver, listing: Map<string, string>, injected: Set<string>): NodeReport['images'] {
  return plan.archive.images.map(({ image }) => {
    const digest = listing.get(image.name);
    const outcome: ImageOutcome = !driver.holds(listing, image) ? (digest === undefined ? 'missing' : 'wrong-digest') : injected.has(image.name) ? 'injected' : 'present';
    return { name: image.name, digest: image.root.digest, outcome, ...(digest && digest !== image.root.digest ? { detail: `node has ${digest}` } : {}) };
  });
}

/** A node's report before anything was done there. */
function freshReport(facts: NodeFacts): NodeReport {
  return { node: facts.name, platform: facts.platform, runtime: facts.runtimeVersion, images: [], injectedBytes: 0, injectMs: 0, changedFiles: [] };
}

function recordFailure(report: NodeReport, error: unknown): void {
  report.error = (error as Error).message;
  if (error instanceof AbortError && error.hint) report.hint = error.hint;
}

function notEnoughSpace(nodes: string[]): AbortError {
  return new AbortError(`not enough free space on the image filesystem of ${nodes.join(', ')}`, {
    exitCode: ExitCode.node,
    hint: 'Free space on those nodes (crictl rmi --prune), leave them out with --nodes, or lower --keep-free if the kubelet\'s image GC threshold allows.',
  });
}

const INJECT_ATTEMPTS = 3;

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
    const metadata = await this.readMetadata();
    await this.#loadMirrorAuth();
    return metadata;
  }

  /**
   * For `lading check`: the bundle's own description only (its index and
   * lading.json), without hashing every blob; a repair verifies in full first.
   */
  async readMetadata(): Promise<BundleMetadata> {
    const reader = await BundleReader.open(this.#options.bundle);
    try {
      this.#metadata = (await readDescription(reader)).metadata;
    } finally {
      await reader.close();
    }
    return this.#metadata;
  }

  /**
   * Authorization headers for mirror endpoints, from --mirror-auth (a file) or --mirror-auth-secret (a
   * kubernetes.io/dockerconfigjson Secret in the cluster). The credentials are never printed.
   */
  async #loadMirrorAuth(): Promise<void> {
    const { mirrorAuthFile: file, mirrorAuthSecret: secret } = this.#options;
    if (!file && !secret) return;
    let document: AuthFile;
    let source: string;
    if (file) {
      source = file;
      try {
        document = JSON.parse(await readFile(file, 'utf8')) as AuthFile;
      } catch (error) {
        throw new AbortError(`--mirror-auth ${file}: cannot read it as JSON (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`, { exitCode: ExitCode.usage });
      }
    } else {
      const [namespace, name] = secret!.includes('/') ? secret!.split('/', 2) : [this.#options.namespace, secret!];
      source = `Secret ${namespace}/${name}`;
      const found = await api(`read ${source}`, () => this.#options.conn.core.readNamespacedSecret({ namespace: namespace!, name: name! }));
      const data = found.data?.['.dockerconfigjson'];
      if (found.type !== 'kubernetes.io/dockerconfigjson' || !data) {
        throw new AbortError(`${source} is not a kubernetes.io/dockerconfigjson Secret`, {
          exitCode: ExitCode.usage,
          hint: 'Create it with kubectl create secret docker-registry NAME --docker-server=HOST --docker-username=... --docker-password=...',
        });
      }
      document = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as AuthFile;
    }
    const auth = new Map<string, string>();
    for (const mirror of this.mirrors) {
      for (const endpoint of mirror.endpoints) {
        const credential = credentialInDocument(document, new URL(endpoint).host, undefined, source);
        if (credential) auth.set(endpoint, `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`);
      }
    }
    if (auth.size === 0) {
      throw new AbortError(`${source} has no credentials for any mirror of the bundle (${this.mirrors.flatMap((m) => m.endpoints).join(', ') || 'it has none'})`, {
        exitCode: ExitCode.usage,
        hint: 'Its auths keys must be the mirror hosts (host:port), as docker login or podman login write them.',
      });
    }
    this.#options.mirrorAuth = auth;
  }

  /** Registry mirrors the bundle asks the nodes to use. */
  get mirrors(): NonNullable<BundleMetadata['mirrors']> {
    return this.#metadata?.mirrors ?? [];
  }

  /** For --restore: the cluster, permissions and nodes, no bundle. Changes nothing. */
  async preflightRestore(): Promise<NodePlan[]> {
    const { conn, namespace, nodeSelector } = this.#options;
    this.#version = await clusterVersion(conn);
    await checkPermissions(conn, installPermissions(namespace));
    const nodes = await listNodes(conn, nodeSelector);
    this.nodes = nodes.map((facts) => ({
      facts,
      archive: { platform: facts.platform, images: [], blobs: [], bytes: 0 },
      alreadyPresent: [],
      report: freshReport(facts),
    }));
    return this.nodes;
  }

  /**
   * Step 2: cluster, permissions, nodes and their platforms; builds the plan.
   * Changes nothing. `checkSpace: false` for `lading check`, which adds nothing.
   */
  async preflight({ checkSpace = true }: { checkSpace?: boolean } = {}): Promise<NodePlan[]> {
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
        report: freshReport(facts),
      };
    });
    const sandbox = this.nodes.flatMap((n) => sandboxConflicts(n.facts.node, n.archive.images.map((i) => i.image)).map((c) => ({ node: n.facts.name, ...c })));
    if (sandbox.length) {
      const c = sandbox[0]!;
      throw new AbortError(
        `the bundle would replace the sandbox image ${c.image} of node ${c.node} (the node has ${c.nodeDigests.join(', ') || 'it without a known digest'}, the bundle ${c.bundleDigest})${sandbox.length > 1 ? ` and ${sandbox.length - 1} more` : ''}`,
        { exitCode: ExitCode.bundle, hint: 'Every pod on a node starts from its sandbox image: lading never replaces it. Leave that image out of the spec, or carry the exact image the nodes run.' },
      );
    }
    if (mismatched.length) {
      throw new AbortError(`no image in the bundle runs on node ${mismatched.join(', ')}; the bundle carries ${metadata.platforms.join(', ')}`, {
        exitCode: ExitCode.node,
        hint: 'Add the node platforms to the spec and create the bundle again, or narrow --nodes.',
      });
    }
    const unsupported = this.nodes.filter((n) => n.facts.runtime === 'unknown');
    if (unsupported.length) {
      throw new AbortError(
        `nodes with a runtime lading cannot inject into yet: ${unsupported.map((n) => `${n.facts.name} (${n.facts.runtimeVersion || 'unknown'})`).join(', ')}`,
        { exitCode: ExitCode.node, hint: 'lading injects into containerd and CRI-O nodes; narrow --nodes to those.' },
      );
    }
    await Promise.all(
      this.nodes.map(async (plan) => {
        if (!checkSpace) return;
        const space = await imageFsSpace(conn, plan.facts.name);
        if (space) plan.imageFs = space;
      }),
    );
    // Only what is not there yet takes space (the node status may not list everything; the agent checks again).
    const toAdd = (n: NodePlan) => planNodeArchive(n.archive.images.filter(({ image }) => !n.alreadyPresent.includes(image.name)).map((i) => i.image), n.facts.platform).bytes;
    const short = this.nodes.flatMap((n) => {
      const why = n.imageFs && spaceShortfall(n.imageFs, toAdd(n), this.#keepFreePercent);
      return why ? [`${n.facts.name} (${why})`] : [];
    });
    if (short.length) throw notEnoughSpace(short);
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

  /** Step 3 for one node: agent, runtime, what it lacks, space, the import, configuration, and the proof. */
  async installNode(plan: NodePlan, onStage: (stage: string) => void): Promise<NodeReport> {
    const { conn, namespace, signal, progress } = this.#options;
    const report = plan.report;
    return this.#withAgent(plan, onStage, async (agent) => {
      onStage(`finding ${plan.facts.runtime}`);
      const driver = await driverFor(agent, plan.facts, this.#options);
      report.runtime = driver.description;
      const before = await driver.list();
      const missing = plan.archive.images.filter(({ image }) => !driver.holds(before, image)).map((m) => m.image);
      const toInject = planNodeArchive(missing, plan.facts.platform);
      const meter = new ProgressMeter(toInject.bytes);
      const key = `node:${plan.facts.name}`;
      progress.publish({ key, progress: meter.snapshot() });
      if (toInject.images.length > 0) {
        const space = await driver.diskSpace();
        const why = space && spaceShortfall(space, toInject.bytes, this.#keepFreePercent);
        if (why) throw notEnoughSpace([`${agent.node} (${why})`]);
        onStage(`injecting ${toInject.images.length} images`);
        const started = performance.now();
        await this.#injectWithRetry(driver, missing, plan.facts.platform, (n) => {
          meter.advance(n);
          progress.publish({ key, progress: meter.snapshot() });
        }, onStage);
        report.injectedBytes = toInject.bytes;
        report.injectMs = Math.round(performance.now() - started);
      }
      meter.complete();
      progress.publish({ key, progress: meter.snapshot() });

      onStage('configuring the runtime');
      const configured = await driver.configure(this.#metadata?.mirrors ?? []);
      report.changedFiles = configured.changed;
      if (configured.apply !== 'none') {
        onStage(`${configured.apply === 'restart' ? 'restarting' : 'reloading'} ${plan.facts.runtime}`);
        await driver.restart(configured.apply);
        await waitForNodeReady(conn, plan.facts.name, 180_000, signal);
      }

      onStage('verifying');
      const after = await driver.list();
      report.images = imageOutcomes(plan, driver, after, new Set(missing.map((i) => i.name)));
      const smokeImage = this.#smokeImage(plan);
      onStage(`starting a pod from ${smokeImage.name}`);
      report.smoke = await runSmokePod(conn, { namespace, node: plan.facts.name, image: smokeImage, ...(signal ? { signal } : {}) });
      return report;
    });
  }

  /**
   * `lading check` for one node: which of the bundle's images its runtime
   * still holds by name and digest (for CRI-O: in the read-only additional
   * store, the one that survives a wipe of the default store). Changes nothing.
   */
  async checkNode(plan: NodePlan, onStage: (stage: string) => void): Promise<NodeReport> {
    const report = plan.report;
    return this.#withAgent(plan, onStage, async (agent) => {
      onStage(`listing ${plan.facts.runtime} images`);
      const driver = await driverFor(agent, plan.facts, this.#options);
      report.runtime = driver.description;
      report.images = imageOutcomes(plan, driver, await driver.list(), new Set());
      return report;
    });
  }

  /**
   * What the last check found lost, per node: image names missing or
   * different (every image of the node when the check itself failed there).
   */
  losses(): Map<string, string[]> {
    const lost = new Map<string, string[]>();
    for (const plan of this.nodes) {
      const names = plan.report.error
        ? plan.archive.images.map(({ image }) => image.name)
        : plan.report.images.filter((i) => i.outcome !== 'present' && i.outcome !== 'injected').map((i) => i.name);
      if (names.length) lost.set(plan.facts.name, names);
    }
    return lost;
  }

  /**
   * Before a repair installs again: only the nodes that lost something, and
   * what the check saw rather than the node status (which the kubelet
   * refreshes only every so often) says what is already there.
   */
  narrowToLosses(losses: Map<string, string[]>): void {
    this.nodes = this.nodes.filter((plan) => losses.has(plan.facts.name));
    for (const plan of this.nodes) {
      const lost = new Set(losses.get(plan.facts.name));
      plan.alreadyPresent = plan.archive.images.map(({ image }) => image.name).filter((name) => !lost.has(name));
      plan.report = freshReport(plan.facts);
    }
  }

  /** `--restore`: puts back every runtime file lading recorded on the node, restarting the runtime if any was. */
  async restoreNode(plan: NodePlan, onStage: (stage: string) => void): Promise<string[]> {
    const { conn, signal } = this.#options;
    return this.#withAgent(plan, onStage, async (agent) => {
      onStage('restoring backups');
      const { restored, problems } = await restoreRuntimeFiles(agent, plan.facts, this.#options);
      plan.report.changedFiles = restored;
      const apply = applyAfterRestore(restored, this.#options);
      if (apply !== 'none' && plan.facts.runtime !== 'unknown') {
        onStage(`${apply === 'restart' ? 'restarting' : 'reloading'} ${plan.facts.runtime}`);
        const driver = await driverFor(agent, plan.facts, this.#options);
        await driver.restart(apply);
        await waitForNodeReady(conn, plan.facts.name, 180_000, signal);
      }
      // Records lading would not have written are reported, after the others were put back.
      if (problems.length) throw incompleteRestore(agent.node, this.#options.backupDir, problems);
      return restored;
    });
  }

  /** Runs `work` with the node's agent, records a failure in the node's report, and removes the agent whatever happens. */
  async #withAgent<T>(plan: NodePlan, onStage: (stage: string) => void, work: (agent: NodeAgent) => Promise<T>): Promise<T> {
    const { conn, namespace } = this.#options;
    let agent: NodeAgent | undefined;
    try {
      agent = await this.#agent(plan, onStage);
      return await work(agent);
    } catch (error) {
      recordFailure(plan.report, error);
      throw error;
    } finally {
      if (agent) await removeAgent(conn, namespace, agent.pod);
    }
  }

  /**
   * Streams the images in; if the API connection drops mid-stream, streams
   * them again (the runtime names an image only once all of it arrived, so a
   * broken stream leaves nothing half-present). Progress counts each byte once.
   */
  async #injectWithRetry(driver: RuntimeDriver, images: BundleImage[], platform: string, onBytes: (n: number) => void, onStage: (stage: string) => void): Promise<void> {
    const { signal } = this.#options;
    let counted = 0;
    for (let attempt = 1; ; attempt++) {
      let sent = 0;
      const reader = await BundleReader.open(this.#options.bundle);
      try {
        await driver.inject(reader, images, platform, (n) => {
          sent += n;
          if (sent > counted) {
            onBytes(sent - counted);
            counted = sent;
          }
        }, signal);
        return;
      } catch (error) {
        if (!(error instanceof ExecConnectionError) || attempt >= INJECT_ATTEMPTS || signal?.aborted) throw error;
        onStage(`connection dropped; streaming again (attempt ${attempt + 1} of ${INJECT_ATTEMPTS})`);
        await sleep(2_000 * attempt, signal);
      } finally {
        await reader.close();
      }
    }
  }

  async #agent(plan: NodePlan, onStage: (stage: string) => void): Promise<NodeAgent> {
    onStage('starting agent');
    const { conn, namespace, signal } = this.#options;
    return startAgent(conn, {
      namespace,
      node: plan.facts.node,
      ...(this.#options.agentImage ? { image: this.#options.agentImage } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  #smokeImage(plan: NodePlan): BundleImage {
    const wanted = this.#options.smokeImage;
    if (!wanted) return plan.archive.images[0]!.image;
    const found = plan.archive.images.find(({ image }) => image.name === wanted || image.source === wanted);
    if (!found) {
      throw new AbortError(`--smoke-image ${wanted} is not among the images for node ${plan.facts.name}`, { exitCode: ExitCode.usage });
    }
    return found.image;
  }

  get #keepFreePercent(): number {
    return this.#options.keepFreePercent ?? DEFAULT_KEEP_FREE_PERCENT;
  }

  /** Removes every agent pod, whatever happened (also after Ctrl-C). */
  async cleanup(): Promise<void> {
    await removeAgents(this.#options.conn, this.#options.namespace);
  }

  /** `smoke: false` for a check, which starts no pods. */
  report({ smoke = true }: { smoke?: boolean } = {}): InstallReport {
    const nodes = this.nodes.map((n) => n.report);
    const ok = nodes.every(
      (n) => !n.error && n.images.length > 0 && n.images.every((i) => i.outcome === 'injected' || i.outcome === 'present') && (!smoke || n.smoke?.ok),
    );
    return { ok, bundle: this.#options.bundle, cluster: { server: this.#options.conn.server, version: this.#version }, nodes };
  }

  #requireMetadata(): BundleMetadata {
    if (!this.#metadata) throw new Error('InstallJob.preflight before verifyBundle');
    return this.#metadata;
  }
}
