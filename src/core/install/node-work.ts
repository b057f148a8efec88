/**
 * The work on one node, through its agent session: install (runtime, what it
 * lacks, space, the import, configuration, pins, proof, record), check (what
 * it holds, against the record) and restore (backups, pins).
 */
import { AbortError, ExitCode } from '../errors.js';
import { ProgressMeter } from '../progress.js';
import type { BundleImage } from '../bundle/layout.js';
import { planNodeArchive, type NodeArchivePlan } from '../bundle/node-archive.js';
import { waitForNodeReady } from '../cluster/preflight.js';
import { incompleteRestore } from '../config/host-restore.js';
import type { Mirror } from '../config/mirrors.js';
import { applyAfterRestore, driverFor, holds, namesToPin, pinnedBy, restoreRuntimeFiles, type Listing, type RuntimeDriver } from './drivers.js';
import { DEFAULT_KEEP_FREE_PERCENT, spaceShortfall } from './disk-space.js';
import type { InventoryNode } from '../inventory/inventory.js';
import { pulledImageReports, runPullPods, runSmokePods } from './smoke.js';
import { EarlyProof } from './early-proof.js';
import { likelyComplete, notEnoughSpace, omittedOf, plannedImages, type NodePlan } from './plan.js';
import { warn, type NodeReport } from './report.js';
import { imageOutcomes, isGood } from './outcome.js';
import { sinceInstall, type BundleIdentity, type NodeRecord } from './node-record.js';
import { readNodeRecord, recordInstall } from './record-store.js';
import { injectWithRetry, withAgent, type OnStage, type SandboxHint } from './node-session.js';
import { pickAgentImage, type NodeAgent } from '../cluster/agent.js';
import { readNodeConfig, type NodeConfig } from '../runtimes/node-config.js';
import { crioHasOldStorage, runtimeTraps, versionOf } from './traps.js';
import type { InstallOptions } from './options.js';

export interface NodeWork {
  options: InstallOptions;
  mirrors: Mirror[];
  identity: BundleIdentity;
  keepFreePercent: number;
}

/** The images a runtime listing shows, judged against the plan. */
function judge(plan: NodePlan, driver: RuntimeDriver, listing: Listing, injected: ReadonlySet<string>): NodeReport['images'] {
  return imageOutcomes(
    plannedImages(plan),
    (image) => ({ digest: listing.get(image.name)?.digest, held: holds(driver, listing, image), pinnedBy: pinnedBy(driver, listing, image) }),
    injected,
  );
}

/** The flags as given, and where they are not, the paths the node's own configuration names. */
function withDiscoveredPaths(options: InstallOptions, config: NodeConfig): InstallOptions {
  return options.containerdConfig || !config.containerd ? options : { ...options, containerdConfig: config.containerd.configPath };
}

/**
 * Reads the node's configuration, reaches its runtime where the kubelet
 * does, and names the settings that would defeat air-gapped images.
 */
async function openRuntime(agent: NodeAgent, options: InstallOptions, plan: NodePlan, onStage: OnStage, keepFreePercent: number): Promise<{ driver: RuntimeDriver; config: NodeConfig }> {
  onStage('reading the node\'s configuration');
  const config = await readNodeConfig(agent, plan.facts);
  onStage(`finding ${plan.facts.runtime}`);
  const driver = await driverFor(agent, plan.facts, withDiscoveredPaths(options, config), config);
  plan.report.runtime = driver.description;
  // Where the sandbox image is matters only for the CRI-O storage trap: read the default store's list only then.
  const version = versionOf(plan.facts.runtimeVersion);
  const sandboxImage = sandboxImageOf(config, plan);
  const needed = version && crioHasOldStorage(version) && config.crio?.settings.internalRepair !== false;
  const sandbox = needed && driver.placement && sandboxImage ? { image: sandboxImage, ...(await driver.placement(sandboxImage)) } : undefined;
  for (const warning of runtimeTraps({ runtime: plan.facts.runtime, runtimeVersion: plan.facts.runtimeVersion, config, keepFreePercent, ...(sandbox ? { sandbox } : {}) })) warn(plan.report, warning);
  return { driver, config };
}

/** The runtime's files for `work.mirrors` (backed up first), then a restart or reload only when a changed file needs it, and the node Ready again. */
async function configureRuntime(work: NodeWork, plan: NodePlan, driver: RuntimeDriver, onStage: OnStage): Promise<void> {
  const configured = await driver.configure(work.mirrors);
  plan.report.changedFiles = configured.changed;
  if (configured.apply === 'none') return;
  onStage(`${configured.apply === 'restart' ? 'restarting' : 'reloading'} ${plan.facts.runtime}`);
  await driver.restart(configured.apply);
  await waitForNodeReady(work.options.conn, plan.facts.name, 180_000, work.options.signal);
}

/** Step 3 for one node: agent, runtime, what it lacks, space, the import, configuration, and the proof. */
export async function installOnNode(work: NodeWork, plan: NodePlan, onStage: OnStage): Promise<NodeReport> {
  const { conn, namespace, signal, progress } = work.options;
  const report = plan.report;
  const recorded = await readRecord(work, plan);
  const complete = likelyComplete(plan, recorded, work.identity.digest);
  const early = complete ? earlyProof(work, plan) : undefined;
  try {
    return await withAgent(work.options, plan, onStage, async (agent) => {
      // Images look missing: the stream's way in starts while the runtime is examined.
      if (!complete) agent.prepareBulk();
      const { driver, config } = await openRuntime(agent, work.options, plan, onStage, work.keepFreePercent);
      const before = await driver.list();
      const missing = plannedImages(plan).filter((image) => !holds(driver, before, image));
      if (missing.length) {
        // The record was wrong: the way in starts now, beside the checks below (a no-op when started above), and the early proof is moot.
        agent.prepareBulk();
        await early?.discard();
      }
      const omitted = omittedOf(plan);
      const toInject = planNodeArchive(missing, plan.facts.platform, omitted);
      // A delta: what it leaves out must be on the node (checked on every node before any changed; again here, where it is used).
      const lacking = await lackingBaseLayers(driver, toInject);
      if (lacking.length) throw deltaBaseMissing([{ node: plan.facts.name, lacking }], 'this node');
      const meter = new ProgressMeter(toInject.bytes);
      const key = `node:${plan.facts.name}`;
      progress.publish({ key, progress: meter.snapshot() });
      if (toInject.images.length > 0) {
        const space = await driver.diskSpace();
        const why = space && spaceShortfall(space, toInject.bytes, work.keepFreePercent);
        if (why) throw notEnoughSpace([`${agent.node} (${why})`]);
        onStage(`injecting ${toInject.images.length} images`);
        const started = performance.now();
        await injectWithRetry(driver, work.options.bundle, missing, plan.facts.platform, {
          onBytes: (n) => {
            meter.advance(n);
            progress.publish({ key, progress: meter.snapshot() });
          },
          onStage,
          signal,
          omitted,
        });
        report.injectedBytes = toInject.bytes;
        report.injectMs = Math.round(performance.now() - started);
        const transport = agent.transportUsed();
        if (transport) report.transport = transport;
      }
      meter.complete();
      progress.publish({ key, progress: meter.snapshot() });

      onStage('configuring the runtime');
      await configureRuntime(work, plan, driver, onStage);

      onStage('verifying');
      // Nothing sent and no file changed since the runtime listed what it holds: that listing is its word still.
      let listing = toInject.images.length === 0 && report.changedFiles.length === 0 ? before : await driver.list();
      // Pinned, the kubelet's image GC never deletes them, even unused on a full disk (the node cannot pull them back).
      const toPin = namesToPin(driver, listing, plannedImages(plan));
      if (toPin.length) {
        onStage(`pinning ${toPin.length} image names`);
        await driver.pin(toPin);
        listing = await driver.list();
      }
      report.images = judge(plan, driver, listing, new Set(missing.map((i) => i.name)));
      const proven = smokeImages(work.options, plan).filter((image) => report.images.some((i) => i.name === image.name && isGood(i.outcome)));
      // The early proof stands where nothing it saw can have changed since it started.
      const stands = early !== undefined && missing.length === 0 && report.changedFiles.length === 0 && early.covers(proven);
      if (!stands) await early?.discard();
      if (proven.length) {
        onStage(`starting pods from ${proven.length} image${proven.length === 1 ? '' : 's'} without pulling`);
        const { smoke, proofs } = (stands ? await early.result() : undefined) ?? (await runSmokePods(conn, { namespace, node: plan.facts.name, images: proven, signal }));
        report.smoke = smoke;
        for (const image of report.images) if (proofs.has(image.name)) image.proof = proofs.get(image.name)!;
      } else {
        report.smoke = { image: '', ok: false, detail: 'no image to start a pod from: none is on the node' };
      }
      await record(work, plan, sandboxImageOf(config, plan));
      return report;
    }, sandboxHint(recorded, plan));
  } finally {
    await early?.discard();
  }
}

/** The proof pods started now, beside the agent, for a node whose record says the bundle is complete (early-proof.ts). */
function earlyProof(work: NodeWork, plan: NodePlan): EarlyProof | undefined {
  let images: BundleImage[];
  try {
    images = smokeImages(work.options, plan);
  } catch {
    return undefined; // a --smoke-image that names no image of the node: the error is raised where the proof runs
  }
  const { conn, namespace, signal } = work.options;
  return new EarlyProof(conn, { namespace, node: plan.facts.name, images, signal });
}

/** The layers a delta's archive for this node leaves out that the runtime does not hold where imports land. */
async function lackingBaseLayers(driver: RuntimeDriver, archive: NodeArchivePlan): Promise<string[]> {
  if (archive.fromTarget.length === 0) return [];
  const held = await driver.blobs();
  return archive.fromTarget.filter((b) => !held.has(b.digest)).map((b) => b.digest);
}

/** A delta cannot go where its base is not: every node and the layers it lacks, named. */
export function deltaBaseMissing(nodes: Array<{ node: string; lacking: string[] }>, unchanged: 'any node' | 'this node' = 'any node'): AbortError {
  const named = nodes.map(({ node, lacking }) => `${node} lacks ${lacking.length} of them (${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ', ...' : ''})`);
  return new AbortError(`this delta bundle leaves out layers the nodes must already hold: ${named.join('; ')}. Nothing was changed on ${unchanged}`, {
    exitCode: ExitCode.node,
    hint: 'Install the bundle the delta was made against first (lading inspect names it), or install a whole bundle (lading create without --since/--against).',
  });
}

/**
 * Before a delta changes any node: which of the layers it leaves out each
 * node's runtime lacks, for the images that node is still missing. Changes
 * nothing on the node.
 */
export async function deltaBaseOnNode(work: NodeWork, plan: NodePlan, onStage: OnStage): Promise<string[]> {
  return withAgent(work.options, plan, onStage, async (agent) => {
    const { driver } = await openRuntime(agent, work.options, plan, onStage, work.keepFreePercent);
    onStage(`listing what ${plan.facts.runtime} holds`);
    const listing = await driver.list();
    const missing = plannedImages(plan).filter((image) => !holds(driver, listing, image));
    return lackingBaseLayers(driver, planNodeArchive(missing, plan.facts.platform, omittedOf(plan)));
  });
}

/**
 * Registry mode on one node: its runtime pointed at the in-cluster registry
 * (work.mirrors: the registry first for every registry the images come from),
 * then pods by each image's original name with `imagePullPolicy: Always`: a
 * pull only the in-cluster registry can serve.
 */
export async function mirrorOnNode(work: NodeWork, plan: NodePlan, images: BundleImage[], onStage: OnStage): Promise<NodeReport> {
  const { conn, namespace, signal } = work.options;
  const report = plan.report;
  return withAgent(work.options, plan, onStage, async (agent) => {
    const { driver } = await openRuntime(agent, work.options, plan, onStage, work.keepFreePercent);
    onStage('pointing the runtime at the registry');
    await configureRuntime(work, plan, driver, onStage);
    // A pull by a name rewrites that image's labels in containerd's CRI, lading's pin included: what node
    // injection pinned here (the registry's own image, on its node) is pinned again after the pulls.
    const before = await driver.list();
    const pinnedHere = images.filter((image) => pinnedBy(driver, before, image) === 'lading');
    onStage(`pulling ${images.length} image${images.length === 1 ? '' : 's'} by their original names`);
    const { smoke, pulls } = await runPullPods(conn, { namespace, node: plan.facts.name, images, ...(signal ? { signal } : {}) });
    report.smoke = smoke;
    if (pinnedHere.length) {
      const toPin = namesToPin(driver, await driver.list(), pinnedHere);
      if (toPin.length) {
        onStage(`pinning ${toPin.length} image name${toPin.length === 1 ? '' : 's'} again`);
        await driver.pin(toPin);
      }
    }
    report.images = pulledImageReports(images, pulls);
    return report;
  });
}

/**
 * `lading check` for one node: which of the bundle's images its runtime
 * still holds by name and digest (for CRI-O: in the read-only additional
 * store, the one that survives a wipe of the default store). Changes nothing.
 */
export async function checkOnNode(work: NodeWork, plan: NodePlan, onStage: OnStage): Promise<NodeReport> {
  const report = plan.report;
  // Read first: when the node can start no pod, the record still names its sandbox image.
  const record = await readRecord(work, plan);
  return withAgent(work.options, plan, onStage, async (agent) => {
    const { driver } = await openRuntime(agent, work.options, plan, onStage, work.keepFreePercent);
    onStage(`listing ${plan.facts.runtime} images`);
    report.images = judge(plan, driver, await driver.list(), new Set());
    const since = sinceInstall(record, work.identity.digest, plan.facts.bootID, report.images);
    if (since) report.sinceInstall = since;
    return report;
  }, sandboxHint(record, plan));
}

/** `lading inventory` for one node: the images and blobs its runtime holds where lading's imports land. Changes nothing. */
export async function inventoryOnNode(options: InstallOptions, plan: NodePlan, onStage: OnStage): Promise<InventoryNode> {
  return withAgent(options, plan, onStage, async (agent) => {
    const { driver } = await openRuntime(agent, options, plan, onStage, DEFAULT_KEEP_FREE_PERCENT);
    onStage(`listing what ${plan.facts.runtime} holds`);
    const images = Object.fromEntries([...(await driver.list())].map(([name, image]) => [name, image.digest]));
    const blobs = [...(await driver.blobs())].sort();
    return { name: plan.facts.name, platform: plan.facts.platform, runtime: plan.facts.runtimeVersion, images, blobs };
  });
}

/** `--restore`: puts back every runtime file lading recorded on the node (restarting the runtime if any was), and takes off lading's pins. */
export async function restoreOnNode(options: InstallOptions, plan: NodePlan, onStage: OnStage): Promise<string[]> {
  const { conn, signal } = options;
  return withAgent(options, plan, onStage, async (agent) => {
    onStage('reading the node\'s configuration');
    const config = await readNodeConfig(agent, plan.facts);
    const effective = withDiscoveredPaths(options, config);
    onStage('restoring backups');
    const { restored, problems } = await restoreRuntimeFiles(agent, plan.facts, effective);
    plan.report.changedFiles = restored;
    const apply = applyAfterRestore(restored, effective);
    // Only containerd carries lading's pins (a CRI-O store keeps images by being read-only).
    if (plan.facts.runtime === 'containerd' || (plan.facts.runtime === 'cri-o' && apply !== 'none')) {
      const driver = await driverFor(agent, plan.facts, effective, config);
      onStage('unpinning lading\'s images');
      plan.report.unpinned = await driver.unpin();
      if (apply !== 'none') {
        onStage(`${apply === 'restart' ? 'restarting' : 'reloading'} ${plan.facts.runtime}`);
        await driver.restart(apply);
        await waitForNodeReady(conn, plan.facts.name, 180_000, signal);
      }
    }
    // Records lading would not have written are reported, after the others were put back.
    if (problems.length) throw incompleteRestore(agent.node, options.backupDir, problems);
    return restored;
  });
}

/** The sandbox image as the runtime's config names it, else as the node status shows it. */
function sandboxImageOf(config: NodeConfig, plan: NodePlan): string | undefined {
  return config.containerd?.settings.sandboxImage ?? config.crio?.settings.pauseImage ?? pickAgentImage(plan.facts.node);
}

/** The node's record; one that cannot be read is a warning (the work goes on without it). */
async function readRecord(work: NodeWork, plan: NodePlan): Promise<NodeRecord | undefined> {
  try {
    return await readNodeRecord(work.options.conn.core, work.options.namespace, plan.facts.name);
  } catch (error) {
    warn(plan.report, { message: `could not read what install recorded on this node (${(error as Error).message})`, hint: 'Grant get on configmaps in lading\'s namespace.' });
    return undefined;
  }
}

function sandboxHint(record: NodeRecord | undefined, plan: NodePlan): SandboxHint {
  return { recorded: record?.sandboxImage, bundleImages: plannedImages(plan).map((i) => i.name) };
}

/** Remembers on the cluster what this install left on the node, for `check` after a reset; a failure to write it is a warning, not a failed node. */
async function record(work: NodeWork, plan: NodePlan, sandboxImage: string | undefined): Promise<void> {
  const images = plan.report.images.filter((i) => isGood(i.outcome)).map((i) => ({ name: i.name, digest: i.digest, ...(i.pinnedBy ? { pinnedBy: i.pinnedBy } : {}) }));
  try {
    await recordInstall(work.options.conn.core, work.options.namespace, plan.facts.name, {
      bundle: work.identity,
      installedAt: new Date().toISOString(),
      bootID: plan.facts.bootID,
      runtime: plan.report.runtime,
      images,
    }, sandboxImage);
  } catch (error) {
    warn(plan.report, { message: `could not record this install in the cluster (${(error as Error).message}); lading check cannot tell what a reset did here`, hint: 'Grant get/create/update on configmaps in lading\'s namespace.' });
  }
}

/** Every image of the node, or the one --smoke-image names. */
function smokeImages(options: InstallOptions, plan: NodePlan): BundleImage[] {
  const wanted = options.smokeImage;
  const images = plannedImages(plan);
  if (!wanted) return images;
  const found = images.find((image) => image.name === wanted || image.source === wanted);
  if (!found) {
    throw new AbortError(`--smoke-image ${wanted} is not among the images for node ${plan.facts.name}`, { exitCode: ExitCode.usage });
  }
  return [found];
}
