/**
 * The plan, computed without touching anything: per node, which of the
 * bundle's images it runs (by platform), which its status already lists, and
 * the reasons a node cannot take the bundle. Pure: nodes and bundle in,
 * plans and refusals out.
 */
import { AbortError, ExitCode } from '../errors.js';
import type { BundleImage } from '../bundle/layout.js';
import { digestName, planNodeArchive, type NodeArchivePlan } from '../bundle/node-archive.js';
import type { NodeFacts } from '../cluster/preflight.js';
import { freshReport, type NodeReport } from './report.js';
import type { NodeRecord } from './node-record.js';
import { sandboxConflicts } from './sandbox-guard.js';
import { spaceShortfall, type DiskSpace } from './disk-space.js';

export interface NodePlan {
  facts: NodeFacts;
  /** The image filesystem as the kubelet reports it (undefined: not readable here). */
  imageFs?: DiskSpace;
  archive: NodeArchivePlan;
  /** Images the node status already lists under the same name and digest. */
  alreadyPresent: string[];
  /** Images a check has just found lost (a repair): neither the status nor the record vouches for them. */
  lost?: string[];
  report: NodeReport;
}

/**
 * The bundle's images of the node's platform, and which of them the node status already lists by name and
 * digest. `omitted`: a delta's layers, which the node must hold already.
 */
export function planNode(facts: NodeFacts, images: BundleImage[], omitted?: ReadonlySet<string>): NodePlan {
  const archive = planNodeArchive(images, facts.platform, omitted);
  const alreadyPresent = archive.images.filter(({ image }) => facts.images.has(image.name) && facts.images.has(digestName(image) ?? image.name)).map(({ image }) => image.name);
  return { facts, archive, alreadyPresent, report: freshReport(facts) };
}

/**
 * Whether what is known before the agent looks says the node holds every planned image already: its status
 * lists it, or lading's record says an install of this bundle put it there (same digest) since the node's
 * last boot, and no check has just found it lost. The status lags an install by up to a few seconds; the
 * record does not. Only a hint (the runtime's own listing decides what is sent).
 */
export function likelyComplete(plan: NodePlan, record: NodeRecord | undefined, bundleDigest: string): boolean {
  const present = new Set(plan.alreadyPresent);
  const lost = new Set(plan.lost);
  const install = record?.installs.find((i) => i.bundle.digest === bundleDigest && i.bootID !== '' && i.bootID === plan.facts.bootID);
  const recorded = new Map((install?.images ?? []).map((i) => [i.name, i.digest]));
  return plan.archive.images.every(({ image }) => !lost.has(image.name) && (present.has(image.name) || recorded.get(image.name) === image.root.digest));
}

/** For --restore, which needs no bundle: the node alone. */
export function emptyPlan(facts: NodeFacts): NodePlan {
  return { facts, archive: { platform: facts.platform, images: [], blobs: [], bytes: 0, fromTarget: [], completeAfter: [] }, alreadyPresent: [], report: freshReport(facts) };
}

/** A delta's layers this node must hold (none for a whole bundle). */
export const omittedOf = (plan: NodePlan): ReadonlySet<string> => new Set(plan.archive.fromTarget.map((b) => b.digest));

/** The planned images, in bundle order. */
export const plannedImages = (plan: NodePlan): BundleImage[] => plan.archive.images.map(({ image }) => image);

/** Bytes of what the node does not list yet (the node status may not list everything; the agent checks again). */
export function bytesToAdd(plan: NodePlan): number {
  return planNodeArchive(plannedImages(plan).filter((image) => !plan.alreadyPresent.includes(image.name)), plan.facts.platform, omittedOf(plan)).bytes;
}

/** Why nodes cannot take the bundle at all, in the order an operator fixes them: sandbox image, platform, runtime. */
export function unfitNodes(plans: NodePlan[], bundlePlatforms: string[]): AbortError | undefined {
  const sandbox = plans.flatMap((n) => sandboxConflicts(n.facts.node, plannedImages(n)).map((c) => ({ node: n.facts.name, ...c })));
  if (sandbox.length) {
    const c = sandbox[0]!;
    return new AbortError(
      `the bundle would replace the sandbox image ${c.image} of node ${c.node} (the node has ${c.nodeDigests.join(', ') || 'it without a known digest'}, the bundle ${c.bundleDigest})${sandbox.length > 1 ? ` and ${sandbox.length - 1} more` : ''}`,
      { exitCode: ExitCode.bundle, hint: 'Every pod on a node starts from its sandbox image: lading never replaces it. Leave that image out of the spec, or carry the exact image the nodes run.' },
    );
  }
  const mismatched = plans.filter((n) => n.archive.images.length === 0).map((n) => `${n.facts.name} (${n.facts.platform})`);
  if (mismatched.length) {
    return new AbortError(`no image in the bundle runs on node ${mismatched.join(', ')}; the bundle carries ${bundlePlatforms.join(', ')}`, {
      exitCode: ExitCode.node,
      hint: 'Add the node platforms to the spec and create the bundle again, or narrow --nodes.',
    });
  }
  const unsupported = plans.filter((n) => n.facts.runtime === 'unknown');
  if (unsupported.length) {
    return new AbortError(`nodes with a runtime lading cannot inject into yet: ${unsupported.map((n) => `${n.facts.name} (${n.facts.runtimeVersion || 'unknown'})`).join(', ')}`, {
      exitCode: ExitCode.node,
      hint: 'lading injects into containerd and CRI-O nodes; narrow --nodes to those.',
    });
  }
  return undefined;
}

export function notEnoughSpace(nodes: string[]): AbortError {
  return new AbortError(`not enough free space on the image filesystem of ${nodes.join(', ')}`, {
    exitCode: ExitCode.node,
    hint: 'Free space on those nodes (crictl rmi --prune), leave them out with --nodes, or lower --keep-free if the kubelet\'s image GC threshold allows.',
  });
}

/** Nodes whose image filesystem (as the kubelet reports it) has no room for what they lack. */
export function shortOfSpace(plans: NodePlan[], keepFreePercent: number): AbortError | undefined {
  const short = plans.flatMap((n) => {
    const why = n.imageFs && spaceShortfall(n.imageFs, bytesToAdd(n), keepFreePercent);
    return why ? [`${n.facts.name} (${why})`] : [];
  });
  return short.length ? notEnoughSpace(short) : undefined;
}

export function notReady(plans: NodePlan[]): AbortError | undefined {
  const names = plans.filter((n) => !n.facts.ready).map((n) => n.facts.name);
  if (!names.length) return undefined;
  return new AbortError(`nodes not Ready: ${names.join(', ')}`, { exitCode: ExitCode.node, hint: 'Wait for them to be Ready, or leave them out with --nodes.' });
}
