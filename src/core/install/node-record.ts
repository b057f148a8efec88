/**
 * What install put on each node, kept in the cluster so `check` can say what
 * a reset did: one ConfigMap per node in lading's namespace (labelled so it
 * is found; never a secret in it) holding, per bundle installed there, the
 * bundle's identity (the sha256 of its index.json bytes), when, the node's
 * boot id then, the store, and the images with their pins. A record is read
 * back as untrusted input: anyone with rights in the namespace can edit it.
 */
import { createHash } from 'node:crypto';
import { parseBoundedJson } from '../util/bounded-json.js';
import type { ImageReport } from './report.js';

export const RECORD_SCHEMA = 'lading.dev/node-record/v1';
export const RECORD_KEY = 'record.json';
export const RECORD_LABELS = { 'app.kubernetes.io/managed-by': 'lading', 'lading.dev/record': 'node' } as const;
/** Bundles remembered per node, newest first. */
const KEEP = 16;

export interface BundleIdentity {
  /** sha256 of the bundle's index.json bytes: the same bundle anywhere, whatever its file is called. */
  digest: string;
  name: string;
  version: string;
}

export interface RecordedInstall {
  bundle: BundleIdentity;
  installedAt: string;
  /** The node's status.nodeInfo.bootID when install ran. */
  bootID: string;
  /** Runtime and store, as the report describes them. */
  runtime: string;
  images: Array<{ name: string; digest: string; pinnedBy?: ImageReport['pinnedBy'] }>;
}

export interface NodeRecord {
  schema: typeof RECORD_SCHEMA;
  node: string;
  /** The node's sandbox (pause) image as its runtime's config named it at the last install: the name check needs when the node can start no pod. */
  sandboxImage?: string;
  installs: RecordedInstall[];
}

/** The ConfigMap's name: readable when the node name allows, else a hash of it (names are at most 253 characters). */
export function recordName(node: string): string {
  const name = `lading-node-${node}`;
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) ? name : `lading-node-${createHash('sha256').update(node).digest('hex').slice(0, 32)}`;
}

/** A label value for the node name, when it fits one (63 characters, no dots at the ends). */
export function nodeLabelValue(node: string): string | undefined {
  return node.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(node) ? node : undefined;
}

/** The record with this install first, replacing an earlier install of the same bundle. */
export function withInstall(record: NodeRecord | undefined, node: string, install: RecordedInstall, sandboxImage?: string): NodeRecord {
  const others = (record?.installs ?? []).filter((i) => i.bundle.digest !== install.bundle.digest);
  const sandbox = sandboxImage ?? record?.sandboxImage;
  return { schema: RECORD_SCHEMA, node, ...(sandbox ? { sandboxImage: sandbox } : {}), installs: [install, ...others].slice(0, KEEP) };
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length <= 4096;
const PINNED_BY = new Set(['lading', 'runtime', 'read-only store']);

/** Reads a record's JSON, keeping only well-formed entries; undefined when it is not a record at all. */
export function parseRecord(text: string, node: string): NodeRecord | undefined {
  let value: unknown;
  try {
    value = parseBoundedJson(Buffer.from(text, 'utf8'), { maxBytes: 1 << 20, maxValues: 200_000, maxDepth: 8 });
  } catch {
    return undefined;
  }
  const record = value as { schema?: unknown; node?: unknown; installs?: unknown };
  if (!record || record.schema !== RECORD_SCHEMA || record.node !== node || !Array.isArray(record.installs)) return undefined;
  const installs: RecordedInstall[] = [];
  for (const raw of record.installs as Array<Record<string, unknown>>) {
    const bundle = raw?.['bundle'] as Record<string, unknown> | undefined;
    const images = raw?.['images'];
    if (!bundle || ![bundle['digest'], bundle['name'], bundle['version'], raw['installedAt'], raw['bootID'], raw['runtime']].every(isString) || !Array.isArray(images)) continue;
    if (!/^sha256:[a-f0-9]{64}$/.test(bundle['digest'] as string)) continue;
    installs.push({
      bundle: { digest: bundle['digest'] as string, name: bundle['name'] as string, version: bundle['version'] as string },
      installedAt: raw['installedAt'] as string,
      bootID: raw['bootID'] as string,
      runtime: raw['runtime'] as string,
      images: (images as Array<Record<string, unknown>>)
        .filter((i) => i && isString(i['name']) && isString(i['digest']))
        .map((i) => ({ name: i['name'] as string, digest: i['digest'] as string, ...(PINNED_BY.has(i['pinnedBy'] as string) ? { pinnedBy: i['pinnedBy'] as ImageReport['pinnedBy'] } : {}) })),
    });
  }
  const sandbox = (value as { sandboxImage?: unknown }).sandboxImage;
  return { schema: RECORD_SCHEMA, node, ...(isString(sandbox) && /^[a-z0-9][a-z0-9._\-/:@]*$/.test(sandbox) ? { sandboxImage: sandbox } : {}), installs };
}

/** What `check` says about a node against the install of this bundle it recorded. */
export interface SinceInstall {
  installedAt: string;
  /** The node booted again since (its boot id changed): a reboot or a hard reset. */
  rebooted: boolean;
  bootIdThen: string;
  bootIdNow: string;
  /** Recorded images the node still holds. */
  survived: string[];
  /** Recorded images it no longer holds. */
  lost: string[];
  /** Held, but the kubelet's image GC may delete them. */
  unpinned: string[];
}

/** Compares what install recorded for this bundle with what the node holds now; undefined when this bundle was never recorded there. */
export function sinceInstall(record: NodeRecord | undefined, bundleDigest: string, bootIdNow: string, images: readonly ImageReport[]): SinceInstall | undefined {
  const install = record?.installs.find((i) => i.bundle.digest === bundleDigest);
  if (!install) return undefined;
  const now = new Map(images.map((i) => [i.name, i]));
  const fine = (name: string) => {
    const image = now.get(name);
    return image !== undefined && (image.outcome === 'present' || image.outcome === 'injected');
  };
  const recorded = install.images.map((i) => i.name);
  return {
    installedAt: install.installedAt,
    rebooted: install.bootID !== '' && bootIdNow !== '' && install.bootID !== bootIdNow,
    bootIdThen: install.bootID,
    bootIdNow,
    survived: recorded.filter(fine),
    lost: recorded.filter((name) => !fine(name)),
    unpinned: recorded.filter((name) => fine(name) && now.get(name)!.pinned === false),
  };
}
