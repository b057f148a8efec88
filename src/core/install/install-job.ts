/**
 * One `lading install` (or `check`, or `--restore`) run, in steps a task list
 * can show: verify the bundle, preflight the cluster (changes nothing), then
 * per node, through a session with its agent: the runtime, the images it
 * lacks streamed through the API server, configuration, and proof. The plan
 * (plan.ts), what "fine" means (outcome.ts) and the agent's lifecycle
 * (node-session.ts) live beside this file; this one only orders the steps.
 */
import { AbortError, ExitCode } from '../errors.js';
import { ProgressMeter } from '../progress.js';
import { BundleReader } from '../bundle/reader.js';
import { verifyBundle } from '../bundle/verify.js';
import { DESCRIPTION_LIMITS, readDescription } from '../bundle/documents.js';
import { OCI_INDEX_FILE, type BundleImage, type BundleMetadata } from '../bundle/layout.js';
import { sha256Digest } from '../oci/digest.js';
import { removeAgents } from '../cluster/agent.js';
import { checkPermissionList, checkPermissions, clusterVersion, ensureNamespace, ensurePlainNamespace, imageFsSpace, installPermissions, listNodes } from '../cluster/preflight.js';
import { RESTRICTED_CONTAINER, RESTRICTED_POD } from '../configmap/bootstrap.js';
import { pulledImageReports, runPullPods } from './smoke.js';
import { DEFAULT_KEEP_FREE_PERCENT } from './disk-space.js';
import { loadMirrorAuth } from './mirror-auth.js';
import { emptyPlan, notReady, planNode, plannedImages, shortOfSpace, unfitNodes, type NodePlan } from './plan.js';
import { freshReport, type InstallReport, type NodeReport } from './report.js';
import { lostImages, nodeOk } from './outcome.js';
import type { BundleIdentity } from './node-record.js';
import type { OnStage } from './node-session.js';
import { checkOnNode, deltaBaseOnNode, installOnNode, inventoryOnNode, mirrorOnNode, restoreOnNode, type NodeWork } from './node-work.js';
import type { InventoryNode } from '../inventory/inventory.js';
import type { Mirror, MirrorAuth } from '../config/mirrors.js';
import type { InstallOptions } from './options.js';

export type { InstallOptions } from './options.js';

export const VERIFY_PROGRESS_KEY = 'bundle:verify';

export class InstallJob {
  readonly #options: InstallOptions;
  #metadata: BundleMetadata | undefined;
  #identity: BundleIdentity | undefined;
  #version = '';
  nodes: NodePlan[] = [];
  /** Set when verifyBundle relied on the note of an earlier whole hash of this unchanged file (ISO time). */
  bundleHashedEarlier: string | undefined;

  constructor(options: InstallOptions) {
    this.#options = options;
  }

  /** Step 1: every blob of the bundle hashed, every reference checked, before the cluster is touched. */
  async verifyBundle(): Promise<BundleMetadata> {
    const { bundle, progress, signal } = this.#options;
    let meter: ProgressMeter | undefined;
    const report = await verifyBundle(bundle, {
      ...(signal ? { signal } : {}),
      // The same unchanged file hashed whole before (by `lading verify` or an install) is not hashed again
      // here; what is streamed to nodes is hashed as it flows in any case.
      notes: { note: true, trust: true },
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
    if (report.hashedEarlier) this.bundleHashedEarlier = report.hashedEarlier;
    const metadata = await this.readMetadata();
    const { conn, namespace, mirrorAuthFile, mirrorAuthSecret } = this.#options;
    const auth = await loadMirrorAuth({ conn, namespace, ...(mirrorAuthFile ? { file: mirrorAuthFile } : {}), ...(mirrorAuthSecret ? { secret: mirrorAuthSecret } : {}) }, this.mirrors);
    if (auth) this.#options.mirrorAuth = auth;
    return metadata;
  }

  /**
   * For `lading check`: the bundle's own description only (its index and
   * lading.json), without hashing every blob; a repair verifies in full first.
   */
  async readMetadata(): Promise<BundleMetadata> {
    const reader = await BundleReader.open(this.#options.bundle);
    try {
      const metadata = (await readDescription(reader)).metadata;
      // The index.json bytes name the bundle wherever it is copied to (readDescription has checked them).
      const index = await reader.readEntry(OCI_INDEX_FILE, DESCRIPTION_LIMITS.maxBytes);
      this.#identity = { digest: sha256Digest(index), name: metadata.name, version: metadata.version };
      this.#metadata = metadata;
      return metadata;
    } finally {
      await reader.close();
    }
  }

  get connection(): InstallOptions['conn'] {
    return this.#options.conn;
  }

  get bundle(): string {
    return this.#options.bundle;
  }

  /** The bundle's description (after verifyBundle or readMetadata). */
  get metadata(): BundleMetadata {
    return this.#requireMetadata();
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
    this.nodes = (await listNodes(conn, nodeSelector)).map(emptyPlan);
    return this.nodes;
  }

  /**
   * Step 2: cluster, permissions, nodes and their platforms; builds the plan.
   * Changes nothing. `forCheck`: `lading check`, which adds nothing (no space
   * needed) and only reads the node records.
   */
  async preflight({ forCheck = false }: { forCheck?: boolean } = {}): Promise<NodePlan[]> {
    const { conn, namespace, nodeSelector } = this.#options;
    const metadata = this.#requireMetadata();
    this.#version = await clusterVersion(conn);
    // The ConfigMap bootstrap runs no agent: registry mode checks what it needs itself.
    const noAgents = this.#options.bootstrap === 'configmap';
    await checkPermissions(conn, noAgents ? [{ verb: 'list', resource: 'nodes' }] : forCheck ? checkPermissionList(namespace) : installPermissions(namespace));
    const otherCluster = await this.#deltaForOtherCluster(metadata);
    if (otherCluster) throw otherCluster;
    const omitted = new Set((metadata.omitted ?? []).map((o) => o.digest));
    this.nodes = (await listNodes(conn, nodeSelector)).map((facts) => planNode(facts, metadata.images, omitted));
    const unfit = unfitNodes(this.nodes, metadata.platforms);
    if (unfit) throw unfit;
    if (!forCheck) {
      await Promise.all(
        this.nodes.map(async (plan) => {
          // Without agents lading may lack nodes/proxy too: then the node does not say.
          const space = await imageFsSpace(conn, plan.facts.name).catch((error: unknown) => (noAgents ? undefined : Promise.reject(error)));
          if (space) plan.imageFs = space;
        }),
      );
    }
    const refusal = shortOfSpace(this.nodes, this.#keepFreePercent) ?? notReady(this.nodes);
    if (refusal) throw refusal;
    return this.nodes;
  }

  /** The one change before agents start: lading's namespace, labelled for privileged agents. */
  async prepareNamespace(): Promise<void> {
    if (this.#options.bootstrap === 'configmap') await ensurePlainNamespace(this.#options.conn, this.#options.namespace);
    else await ensureNamespace(this.#options.conn, this.#options.namespace);
  }

  /** How registry mode gets its image onto a node; set before preflight. */
  useBootstrap(bootstrap: 'exec' | 'configmap'): void {
    this.#options.bootstrap = bootstrap;
  }

  /** Step 3 for one node: agent, runtime, what it lacks, space, the import, configuration, pins, proof and record. */
  installNode(plan: NodePlan, onStage: OnStage): Promise<NodeReport> {
    return installOnNode(this.#work(), plan, onStage);
  }

  /** A delta bundle: the layers it leaves out that this node lacks (empty when it holds them all, or for a whole bundle). */
  deltaBaseOn(plan: NodePlan, onStage: OnStage): Promise<string[]> {
    return plan.archive.fromTarget.length ? deltaBaseOnNode(this.#work(), plan, onStage) : Promise.resolve([]);
  }

  /** Registry mode for one node: its runtime pointed at `mirrors`, then a pull of each image by its original name. */
  mirrorNode(plan: NodePlan, mirrors: Mirror[], images: BundleImage[], onStage: OnStage, extraAuth?: MirrorAuth): Promise<NodeReport> {
    const work = this.#work();
    const mirrorAuth = extraAuth?.size ? new Map([...(work.options.mirrorAuth ?? []), ...extraAuth]) : work.options.mirrorAuth;
    return mirrorOnNode({ ...work, mirrors, options: { ...work.options, ...(mirrorAuth ? { mirrorAuth } : {}) } }, plan, images, onStage);
  }

  /**
   * The ConfigMap bootstrap's proof on one node (no agent, no node configuration): a restricted pod per
   * image by its in-cluster reference with `Always`, which only the in-cluster registry can serve.
   */
  async pullByReference(plan: NodePlan, images: BundleImage[], references: string[], imagePullSecrets: string[] = []): Promise<NodeReport> {
    const { conn, namespace, signal } = this.#options;
    const report = plan.report;
    const restricted = { pod: RESTRICTED_POD, container: RESTRICTED_CONTAINER, imagePullSecrets };
    const { smoke, pulls } = await runPullPods(conn, { namespace, node: plan.facts.name, images, references, restricted, ...(signal ? { signal } : {}) });
    report.smoke = smoke;
    report.images = pulledImageReports(images, pulls);
    return report;
  }

  /**
   * `lading check` for one node: which of the bundle's images its runtime
   * still holds by name and digest (for CRI-O: in the read-only additional
   * store, the one that survives a wipe of the default store), pinned or
   * not, and against the install lading recorded there. Changes nothing.
   */
  checkNode(plan: NodePlan, onStage: OnStage): Promise<NodeReport> {
    return checkOnNode(this.#work(), plan, onStage);
  }

  /** What the last check found lost, per node: image names missing or different (every image of the node when the check itself failed there). */
  losses(): Map<string, string[]> {
    const lost = new Map<string, string[]>();
    for (const plan of this.nodes) {
      const names = lostImages(plan.report, plannedImages(plan));
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
      plan.alreadyPresent = plannedImages(plan).map((image) => image.name).filter((name) => !lost.has(name));
      plan.lost = [...lost];
      plan.report = freshReport(plan.facts);
    }
  }

  /** A delta made against another cluster's inventory: refused by the clusters' identities, before any node is asked. */
  async #deltaForOtherCluster(metadata: BundleMetadata): Promise<AbortError | undefined> {
    const wanted = metadata.base?.cluster;
    if (!wanted) return undefined;
    const uid = await this.clusterUid();
    if (!uid || uid === wanted) return undefined;
    return new AbortError(`this delta bundle was made against the inventory of another cluster (kube-system uid ${wanted}; this cluster's is ${uid})`, {
      exitCode: ExitCode.bundle,
      hint: 'Run lading inventory on this cluster and create the delta against that, or install a whole bundle.',
    });
  }

  /** `lading inventory` for one node (after preflightRestore, which needs no bundle). */
  inventoryNode(plan: NodePlan, onStage: OnStage): Promise<InventoryNode> {
    return inventoryOnNode(this.#options, plan, onStage);
  }

  /** The uid of the cluster's kube-system namespace: names the cluster whatever address it is reached at (undefined when not readable). */
  async clusterUid(): Promise<string | undefined> {
    return (await this.#options.conn.core.readNamespace({ name: 'kube-system' }).catch(() => undefined))?.metadata?.uid;
  }

  /** The cluster's version, as preflight read it. */
  get clusterVersion(): string {
    return this.#version;
  }

  /** `--restore`: puts back every runtime file lading recorded on the node (restarting the runtime if any was), and takes off lading's pins. */
  restoreNode(plan: NodePlan, onStage: OnStage): Promise<string[]> {
    return restoreOnNode(this.#options, plan, onStage);
  }

  #work(): NodeWork {
    return { options: this.#options, mirrors: this.mirrors, identity: this.#requireIdentity(), keepFreePercent: this.#keepFreePercent };
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
    const ok = nodes.every((n) => nodeOk(n, { smoke }));
    return {
      ok,
      bundle: this.#options.bundle,
      ...(this.bundleHashedEarlier ? { bundleHashedEarlier: this.bundleHashedEarlier } : {}),
      cluster: { server: this.#options.conn.server, version: this.#version },
      nodes,
    };
  }

  #requireIdentity(): BundleIdentity {
    if (!this.#identity) throw new Error('InstallJob: bundle identity before readMetadata');
    return this.#identity;
  }

  #requireMetadata(): BundleMetadata {
    if (!this.#metadata) throw new Error('InstallJob.preflight before verifyBundle');
    return this.#metadata;
  }
}
