/**
 * What a cluster holds, for deltas made without a base bundle at hand:
 * `lading inventory` asks every node's runtime (through its agent) for its
 * images and the blobs it holds where lading's imports land, and writes them
 * down with the cluster's identity (the uid of its kube-system namespace).
 * `create --against FILE` then leaves out the layers every node holds; the
 * delta names the inventory by the sha256 of its bytes and the cluster by
 * that uid, so install on another cluster is refused before anything changes.
 */
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AbortError, ExitCode } from '../errors.js';
import { sha256Digest } from '../oci/digest.js';
import { SHA256_DIGEST } from '../oci/validate.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';
import type { BundleBase } from '../bundle/layout.js';
import { LADING_VERSION } from '../version.js';

export const INVENTORY_SCHEMA = 'lading.inventory/v1';

export interface InventoryNode {
  name: string;
  platform: string;
  /** As the kubelet reports it, e.g. containerd://2.2.0. */
  runtime: string;
  /** Image name -> digest, as the runtime lists it where lading imports. */
  images: Record<string, string>;
  /** Blob digests held where lading's imports land (containerd's content store; CRI-O: lading's store's layers). */
  blobs: string[];
}

/** Registry mode's in-cluster registry: its images by `repository:tag`, and the blobs their manifests name. */
export interface InventoryRegistry {
  service: string;
  images: Record<string, string>;
  blobs: string[];
}

export interface Inventory {
  schema: typeof INVENTORY_SCHEMA;
  createdAt: string;
  tool: { name: 'lading'; version: string };
  cluster: { server: string; uid?: string; version?: string };
  nodes: InventoryNode[];
  registry?: InventoryRegistry;
}

const UID = /^[A-Za-z0-9-]{1,64}$/;
const LIMITS = { maxBytes: 256 << 20, maxValues: 20_000_000, maxDepth: 8 };

/** A cluster's identity that survives API server address changes: its kube-system namespace's uid. */
export const CLUSTER_UID = UID;

function bad(path: string, why: string): AbortError {
  return new AbortError(`${printable(path)} is not a lading inventory: ${why}`, {
    exitCode: ExitCode.usage,
    hint: 'Write one with lading inventory --kubeconfig FILE -o inventory.json on the cluster the delta is for.',
  });
}

/** Reads and checks an inventory file as untrusted input. */
export function parseInventory(path: string, bytes: Uint8Array): Inventory {
  let value: unknown;
  try {
    value = parseBoundedJson(bytes, LIMITS);
  } catch (error) {
    throw bad(path, (error as Error).message);
  }
  const v = value as Partial<Inventory> | null;
  if (!v || typeof v !== 'object' || v.schema !== INVENTORY_SCHEMA) throw bad(path, `expected "schema": "${INVENTORY_SCHEMA}"`);
  if (typeof v.createdAt !== 'string' || Number.isNaN(Date.parse(v.createdAt))) throw bad(path, 'createdAt is not a time');
  const cluster = v.cluster;
  if (!cluster || typeof cluster.server !== 'string' || (cluster.uid !== undefined && (typeof cluster.uid !== 'string' || !UID.test(cluster.uid)))) throw bad(path, 'cluster is not {server, uid}');
  if (!Array.isArray(v.nodes) || v.nodes.length === 0) throw bad(path, 'it lists no node');
  v.nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    if (!node || typeof node.name !== 'string' || typeof node.platform !== 'string' || typeof node.runtime !== 'string') throw bad(path, `${at} is not {name, platform, runtime, images, blobs}`);
    if (!Array.isArray(node.blobs) || node.blobs.some((b) => typeof b !== 'string' || !SHA256_DIGEST.test(b))) throw bad(path, `${at}.blobs is not a list of sha256 digests`);
    if (!node.images || typeof node.images !== 'object' || Object.values(node.images).some((d) => typeof d !== 'string' || !SHA256_DIGEST.test(d))) throw bad(path, `${at}.images is not name -> digest`);
  });
  const registry = v.registry;
  if (registry !== undefined) {
    if (!registry || typeof registry.service !== 'string' || !Array.isArray(registry.blobs) || registry.blobs.some((b) => typeof b !== 'string' || !SHA256_DIGEST.test(b))) throw bad(path, 'registry is not {service, images, blobs}');
    if (!registry.images || typeof registry.images !== 'object' || Object.values(registry.images).some((d) => typeof d !== 'string' || !SHA256_DIGEST.test(d))) throw bad(path, 'registry.images is not name -> digest');
  }
  return v as Inventory;
}

/**
 * The blobs every target of the inventory holds (each node, and the registry
 * of registry mode when there is one): what a delta may leave out. In a
 * cluster of mixed architectures that is only what all nodes share (data
 * layers), never an architecture's own layers: safe, if not the smallest delta.
 */
export function heldEverywhere(inventory: Inventory): Set<string> {
  const [first, ...rest] = [...inventory.nodes.map((n) => n.blobs), ...(inventory.registry ? [inventory.registry.blobs] : [])];
  const held = new Set(first ?? []);
  for (const blobs of rest) {
    const here = new Set(blobs);
    for (const digest of held) if (!here.has(digest)) held.delete(digest);
  }
  return held;
}

/** How a delta made against this inventory names it in lading.json. */
export function inventoryBase(inventory: Inventory, bytes: Uint8Array): BundleBase {
  const taken = inventory.createdAt.replace(/[-:]/g, '').replace(/\.\d+/, '');
  return {
    name: 'inventory',
    version: /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,126}$/.test(taken) ? taken : '1',
    metadataDigest: sha256Digest(bytes),
    ...(inventory.cluster.uid ? { cluster: inventory.cluster.uid } : {}),
  };
}

/** `create --against FILE`: the inventory read, checked, and turned into what create leaves out. */
export async function readInventoryBase(path: string): Promise<{ ref: BundleBase; layers: ReadonlySet<string> }> {
  let bytes: Buffer;
  try {
    // Bounded before it is read: a device or FIFO named as the inventory must not hang or fill memory.
    const info = await stat(path);
    if (!info.isFile()) throw bad(path, 'not a regular file');
    if (info.size > LIMITS.maxBytes) throw bad(path, `${info.size} bytes, more than the ${LIMITS.maxBytes} allowed`);
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof AbortError) throw error;
    throw new AbortError(`cannot read the inventory ${printable(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { exitCode: ExitCode.usage });
  }
  const inventory = parseInventory(path, bytes);
  return { ref: inventoryBase(inventory, bytes), layers: heldEverywhere(inventory) };
}

/** The document `lading inventory` writes, nodes in name order. */
export function makeInventory(cluster: Inventory['cluster'], nodes: InventoryNode[], registry?: InventoryRegistry, now = new Date()): Inventory {
  return {
    schema: INVENTORY_SCHEMA,
    createdAt: now.toISOString(),
    tool: { name: 'lading', version: LADING_VERSION },
    cluster,
    nodes: [...nodes].sort((a, b) => a.name.localeCompare(b.name)),
    ...(registry ? { registry } : {}),
  };
}

/** Written beside the target and renamed over it: a reader sees the old file or the new one, never half of one. */
export async function writeInventory(path: string, inventory: Inventory): Promise<{ bytes: number; sha256: string }> {
  const text = Buffer.from(JSON.stringify(inventory, null, 2) + '\n');
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  try {
    await writeFile(temporary, text, { flag: 'wx', mode: 0o644 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new AbortError(`cannot write the inventory ${printable(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { exitCode: ExitCode.usage });
  }
  return { bytes: text.length, sha256: sha256Digest(text) };
}
