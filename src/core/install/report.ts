/**
 * What install, check and restore say about each node: the shapes of the
 * report (the JSON document and the table are made from these) and the two
 * ways a node's report starts and fails.
 */
import { AbortError } from '../errors.js';
import type { NodeFacts } from '../cluster/preflight.js';
import type { SinceInstall } from './node-record.js';
import type { RegistryReport } from '../registry/registry-mode.js';
import type { TransportUsed } from '../cluster/agent.js';

export type ImageOutcome = 'injected' | 'present' | 'missing' | 'wrong-digest';

export interface ImageReport {
  name: string;
  digest: string;
  outcome: ImageOutcome;
  detail?: string;
  /** Whether the kubelet's image GC is kept from it (set when the image is held). */
  pinned?: boolean;
  /** What keeps it: lading's pin, a pin someone else set, or a read-only store GC cannot delete from. */
  pinnedBy?: 'lading' | 'runtime' | 'read-only store';
  /** Install: the kubelet's proof that a pod finds it without a pull. */
  proof?: ImageProof;
}

/** How the kubelet showed it found the image on the node, per name a pod may use (absent: not proven, see the node's smoke detail). */
export interface ImageProof {
  byName?: string;
  byDigest?: string;
  /** Registry mode: pulled by its original name with `Always`, which only the in-cluster registry can serve. */
  byPull?: string;
}

export interface SmokeReport {
  /** The images the pods started from. */
  image: string;
  ok: boolean;
  detail: string;
}

export interface NodeReport {
  node: string;
  platform: string;
  runtime: string;
  images: ImageReport[];
  smoke?: SmokeReport;
  injectedBytes: number;
  /** Wall time of the import stream alone (agent start, checks and smoke pods excluded). */
  injectMs: number;
  /** How the images streamed into the node (pods/proxy to the agent's receiver, or exec, and why exec). */
  transport?: TransportUsed;
  /** Host files lading changed (install) or put back (restore). */
  changedFiles: string[];
  /** Image names whose pin lading took off (restore). */
  unpinned?: string[];
  /** Check: what changed since the install of this bundle that lading recorded (absent: none recorded). */
  sinceInstall?: SinceInstall;
  /** Things that do not fail the node but that the operator should know (a runtime setting that defeats air-gapped images, say). */
  warnings?: Warning[];
  error?: string;
  /** What the operator can do about `error`. */
  hint?: string;
}

export interface Warning {
  message: string;
  hint?: string;
}

export interface InstallReport {
  ok: boolean;
  bundle: string;
  /** When the bundle's blobs were hashed whole in an earlier run, of this unchanged file (not hashed again in this one). */
  bundleHashedEarlier?: string;
  cluster: { server: string; version: string };
  nodes: NodeReport[];
  /** Registry mode: where the registry runs, what was pushed, what it holds. */
  registry?: RegistryReport;
}

/** A node's report before anything was done there. */
export function freshReport(facts: NodeFacts): NodeReport {
  return { node: facts.name, platform: facts.platform, runtime: facts.runtimeVersion, images: [], injectedBytes: 0, injectMs: 0, changedFiles: [] };
}

export function warn(report: NodeReport, warning: Warning): void {
  (report.warnings ??= []).push(warning);
}

export function recordFailure(report: NodeReport, error: unknown): void {
  report.error = (error as Error).message;
  if (error instanceof AbortError && error.hint) report.hint = error.hint;
}
