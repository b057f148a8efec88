/**
 * The injector payload as ConfigMaps: the injector binary and one platform's blobs of bundle images,
 * cut into chunks (binaryData keys) as plan.ts decided, produced one ConfigMap at a time (memory stays
 * near one ConfigMap whatever the images weigh), and the chunk index (index.json) last, once every
 * chunk's sha256 is known. Every byte read is verified against its digest on the way: a chunk that
 * ends a blob is released only once the whole blob matched. Labels let lading find and remove them.
 */
import { pipeline } from 'node:stream';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import type { BundleReader } from '../bundle/reader.js';
import { DigestMismatchError, VerifyingStream, sha256Hex } from '../oci/digest.js';
import { formatBytes } from '../progress.js';
import {
  INDEX_KEY,
  LABEL_MANAGED_BY,
  LABEL_PART,
  LABEL_PAYLOAD,
  serializeIndex,
  type PayloadPart,
  type PayloadPlan,
  type PlannedChunk,
  type PlannedConfigMap,
} from './plan.js';

export * from './plan.js';
export { writePayloadDir } from './payload-dir.js';

/** A ConfigMap as the API takes it (binaryData base64-encoded); structurally a V1ConfigMap. */
export interface PayloadConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: { name: string; labels: Record<string, string> };
  /** The kubelet need not watch it, and nobody can change it in place. */
  immutable: true;
  binaryData?: Record<string, string>;
  data?: Record<string, string>;
}

export function payloadLabels(id: string, part?: PayloadPart): Record<string, string> {
  return { [LABEL_MANAGED_BY]: 'lading', [LABEL_PAYLOAD]: id, ...(part ? { [LABEL_PART]: part } : {}) };
}

/** The label selector of one payload's ConfigMaps, or of every payload lading left (no id). */
export function payloadSelector(id?: string): string {
  return id === undefined ? `${LABEL_MANAGED_BY}=lading,${LABEL_PAYLOAD}` : `${LABEL_MANAGED_BY}=lading,${LABEL_PAYLOAD}=${id}`;
}

export interface PayloadSummary {
  configMaps: number;
  /** Value bytes (binaryData decoded, plus the index). */
  bytes: number;
  /** The largest ConfigMap's value bytes. */
  largest: number;
  blobs: number;
  chunks: number;
}

/** The pre-check: what creating the payload takes, known before any ConfigMap is written. */
export function summarizePayload(plan: PayloadPlan): PayloadSummary {
  return {
    configMaps: plan.configMaps.length,
    bytes: plan.bytes,
    largest: Math.max(...plan.configMaps.map((c) => c.bytes)),
    blobs: plan.blobs.length,
    chunks: plan.injector.chunks.length + plan.blobs.reduce((sum, b) => sum + b.chunks.length, 0),
  };
}

/** A ResourceQuota on ConfigMaps (`count/configmaps` or `configmaps`) in the namespace. */
export interface ConfigMapQuota {
  name: string;
  namespace: string;
  hard: number;
  used: number;
}

/** Refuses, before anything is written, a payload the namespace's ConfigMap quota cannot take. */
export function checkConfigMapQuota(summary: PayloadSummary, quota: ConfigMapQuota): void {
  const room = quota.hard - quota.used;
  if (summary.configMaps <= room) return;
  throw new AbortError(
    `the injector payload needs ${summary.configMaps} ConfigMaps (${formatBytes(summary.bytes)}), but ResourceQuota ${quota.name} in namespace ${quota.namespace} allows ${Math.max(room, 0)} more (${quota.used} of ${quota.hard} used)`,
    {
      exitCode: ExitCode.permission,
      hint: `Raise the quota's count/configmaps to at least ${quota.used + summary.configMaps}, or use --bootstrap exec where exec is allowed.`,
    },
  );
}

export interface PayloadSources {
  reader: BundleReader;
  /** The injector binary the plan was made for (its size and sha256 are checked as it is read). */
  injectorPath: string;
}

export interface PayloadOptions {
  signal?: AbortSignal;
  /** Bytes read and verified, for a progress bar (injector and blobs). */
  onBytes?: (bytes: number) => void;
}

/**
 * Cuts one verified stream into its planned chunks. The final chunk is held until the stream ended
 * cleanly (the digest matched), so no ConfigMap ever carries the end of a damaged blob.
 */
async function* cut(stream: Readable, chunks: PlannedChunk[], signal?: AbortSignal): AsyncGenerator<[PlannedChunk, Buffer]> {
  let i = 0;
  let buffer = chunks.length > 0 ? Buffer.allocUnsafe(chunks[0]!.size) : Buffer.alloc(0);
  let filled = 0;
  let held: [PlannedChunk, Buffer] | undefined;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    signal?.throwIfAborted();
    for (let at = 0; at < piece.length; ) {
      if (i >= chunks.length) throw new Error('more bytes than planned'); // the verifier refuses first
      const n = Math.min(piece.length - at, buffer.length - filled);
      piece.copy(buffer, filled, at, at + n);
      filled += n;
      at += n;
      if (filled < buffer.length) continue;
      const done: [PlannedChunk, Buffer] = [chunks[i]!, buffer];
      i += 1;
      if (i === chunks.length) held = done;
      else {
        yield done;
        buffer = Buffer.allocUnsafe(chunks[i]!.size);
        filled = 0;
      }
    }
  }
  if (held) yield held;
  else if (chunks.length > 0) throw new Error('fewer bytes than planned'); // the verifier refuses first
}

function verified(source: Readable, expected: { digest: string; size: number }, subject: string, onBytes?: (n: number) => void): Readable {
  return pipeline(source, new VerifyingStream(expected, subject, onBytes), () => {
    // Errors reach the consumer through the returned stream.
  });
}

/** A digest mismatch is the input's fault, not lading's: an integrity error naming the file or blob. */
async function* refusingDamage<T>(items: AsyncGenerator<T>, hint: string): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (error) {
    if (error instanceof DigestMismatchError) throw new AbortError(error.message, { exitCode: ExitCode.integrity, hint, cause: error });
    throw error;
  }
}

/** The payload's ConfigMaps, one at a time, in plan order (the index last). */
export async function* payloadConfigMaps(plan: PayloadPlan, sources: PayloadSources, options: PayloadOptions = {}): AsyncGenerator<PayloadConfigMap> {
  const { signal, onBytes } = options;
  const byName = new Map(plan.configMaps.map((c) => [c.name, c]));
  const hashes = new Map<PlannedChunk, string>();
  let open: { planned: PlannedConfigMap; values: Record<string, string> } | undefined;

  const make = (planned: PlannedConfigMap, values: Record<string, string>, field: 'binaryData' | 'data'): PayloadConfigMap => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: planned.name, labels: payloadLabels(plan.id, planned.part) },
    immutable: true,
    [field]: values,
  });
  /** Adds a chunk to its ConfigMap; the ConfigMap when that completed it. */
  const place = (chunk: PlannedChunk, bytes: Buffer): PayloadConfigMap | undefined => {
    const planned = byName.get(chunk.configMap)!;
    if (open && open.planned !== planned) throw new Error(`ConfigMap ${open.planned.name} left incomplete`);
    open ??= { planned, values: {} };
    hashes.set(chunk, sha256Hex(bytes));
    open.values[chunk.key] = bytes.toString('base64');
    if (Object.keys(open.values).length < planned.keys) return undefined;
    const done = make(planned, open.values, 'binaryData');
    open = undefined;
    return done;
  };

  const injector = verified(
    createReadStream(sources.injectorPath, { highWaterMark: 256 << 10 }),
    { digest: `sha256:${plan.injector.sha256}`, size: plan.injector.size },
    `injector binary ${sources.injectorPath}`,
    onBytes,
  );
  const rebuild = 'Build the injector again (src/injector/build) or reinstall lading.';
  for await (const [chunk, bytes] of refusingDamage(cut(injector, plan.injector.chunks, signal), rebuild)) {
    const done = place(chunk, bytes);
    if (done) yield done;
  }
  for (const blob of plan.blobs) {
    const entry = sources.reader.blobEntry(blob.digest);
    if (!entry || entry.size !== blob.size) {
      throw new AbortError(`${sources.reader.path}: blob ${blob.digest} is ${entry ? `${entry.size} bytes, not ${blob.size}` : 'missing'}`, {
        exitCode: ExitCode.bundle,
        hint: 'Run lading verify on the bundle, or copy it again.',
      });
    }
    const stream = verified(sources.reader.openEntry(entry), blob, `bundle blob ${blob.digest}`, onBytes);
    const hint = 'The bundle was damaged after lading create wrote it: run lading verify on it, or copy it again.';
    for await (const [chunk, bytes] of refusingDamage(cut(stream, blob.chunks, signal), hint)) {
      const done = place(chunk, bytes);
      if (done) yield done;
    }
  }
  const index = serializeIndex(plan, (chunk) => hashes.get(chunk)!);
  const planned = plan.configMaps.at(-1)!;
  if (Buffer.byteLength(index) !== planned.bytes) throw new Error(`index is ${Buffer.byteLength(index)} bytes, planned ${planned.bytes}`);
  yield make(planned, { [INDEX_KEY]: index }, 'data');
}
