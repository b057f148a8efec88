/**
 * Hashes a bundle's blobs at the speed of the machine: reads of 4 MiB into two
 * reused buffers, the next read under way while the last one is hashed, so the
 * disk and the hash overlap, with no stream machinery per chunk. (A second
 * thread taking every other blob was tried: on the six-image set, where one
 * 512 MiB blob is the critical path, it was 0.02 to 0.09 s slower.)
 */
import { createHash } from 'node:crypto';
import type { BundleReader, TarEntry } from './reader.js';

export interface BlobToHash {
  entry: TarEntry;
  digest: string;
}

export interface HashOptions {
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

const READ_BYTES = 4 << 20;

/** On the main thread, straight from the file with reads and hashing overlapped. */
async function hashHere(reader: BundleReader, entry: TarEntry, buffers: [Buffer, Buffer], options: HashOptions): Promise<string | undefined> {
  const hash = createHash('sha256');
  const readInto = (i: 0 | 1, at: number) => reader.readAt(buffers[i], Math.min(READ_BYTES, entry.size - at), entry.offset + at);
  let done = 0;
  let current: 0 | 1 = 0;
  let pending = entry.size > 0 ? readInto(0, 0) : undefined;
  while (pending) {
    if (options.signal?.aborted) throw options.signal.reason;
    const { bytesRead } = await pending;
    if (bytesRead === 0) return undefined;
    const filled = buffers[current];
    done += bytesRead;
    current = current === 0 ? 1 : 0;
    pending = done < entry.size ? readInto(current, done) : undefined;
    hash.update(filled.subarray(0, bytesRead));
    options.onBytes?.(bytesRead);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Hashes every blob, in the order given, and says per blob whether its bytes match its digest. */
export async function hashBlobs(reader: BundleReader, blobs: readonly BlobToHash[], options: HashOptions = {}): Promise<Map<BlobToHash, boolean>> {
  const results = new Map<BlobToHash, boolean>();
  const buffers: [Buffer, Buffer] = [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)];
  for (const blob of blobs) results.set(blob, (await hashHere(reader, blob.entry, buffers, options)) === blob.digest);
  return results;
}
