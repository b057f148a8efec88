/**
 * Blob bytes out of a bundle, checked against their digest the first time:
 * a full read streams through VerifyingStream and holds back its last chunk
 * until the digest matched, so a damaged blob never reaches a client whole
 * (the response is cut short instead); a range of a blob not checked yet is
 * served only after the whole blob was hashed. A blob that failed is marked
 * bad and never served again; one that passed is remembered.
 */
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, VerifyingStream, sha256Digest } from '../oci/digest.js';
import type { Stored } from './catalog.js';

/** Passes every chunk on one chunk late; the last is sent only when the stream ends without error. */
export class HoldLast extends Transform {
  #held: Buffer | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.#held;
    this.#held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#held);
    this.#held = undefined;
  }
}

export interface BlobEvents {
  /** A blob did not match its digest: it is marked bad from now on. */
  onBad(blob: Stored, error: DigestMismatchError): void;
}

/**
 * The whole blob as a stream that errors (before its last chunk) when the
 * bytes do not match; the blob is marked verified when they do.
 */
export function verifiedStream(blob: Stored, events: BlobEvents): Readable {
  if (blob.state === 'verified') return blob.reader.openEntry(blob.entry);
  const verifier = new VerifyingStream({ digest: blob.digest, size: blob.size }, `blob ${blob.digest} in ${blob.reader.path}`);
  const hold = new HoldLast();
  const source = blob.reader.openEntry(blob.entry);
  source.on('error', (error) => verifier.destroy(error));
  verifier.on('error', (error) => {
    if (error instanceof DigestMismatchError) markBad(blob, error, events);
    hold.destroy(error);
  });
  verifier.on('end', () => {
    blob.state = 'verified';
  });
  hold.on('close', () => {
    // The client went away: stop reading the bundle.
    if (!source.destroyed) source.destroy();
  });
  return source.pipe(verifier).pipe(hold);
}

function markBad(blob: Stored, error: DigestMismatchError, events: BlobEvents): void {
  if (blob.state === 'bad') return;
  blob.state = 'bad';
  events.onBad(blob, error);
}

/** Hashes the whole blob once (shared by concurrent callers); true when it matches. */
export function ensureVerified(blob: Stored, events: BlobEvents): Promise<boolean> {
  if (blob.state !== 'unchecked') return Promise.resolve(blob.state === 'verified');
  blob.checking ??= (async () => {
    try {
      await pipeline(
        blob.reader.openEntry(blob.entry),
        new VerifyingStream({ digest: blob.digest, size: blob.size }, `blob ${blob.digest} in ${blob.reader.path}`),
        new Writable({ write: (_chunk, _encoding, callback) => callback() }),
      );
      blob.state = 'verified';
      return true;
    } catch (error) {
      if (error instanceof DigestMismatchError) {
        markBad(blob, error, events);
        return false;
      }
      throw error;
    } finally {
      blob.checking = undefined;
    }
  })();
  return blob.checking;
}

/** Manifests are served whole from memory: they are small (4 MiB at most). */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** A manifest's bytes, or undefined when they do not match their digest (it is marked bad then). */
export async function readVerified(blob: Stored, events: BlobEvents): Promise<Buffer | undefined> {
  if (blob.state === 'bad') return undefined;
  const bytes = await blob.reader.readEntry(blob.entry.name, MAX_MANIFEST_BYTES);
  if (blob.state === 'verified') return bytes;
  const actual = { digest: sha256Digest(bytes), size: bytes.length };
  if (actual.digest !== blob.digest || actual.size !== blob.size) {
    markBad(blob, new DigestMismatchError(`manifest ${blob.digest} in ${blob.reader.path}`, { digest: blob.digest, size: blob.size }, actual), events);
    return undefined;
  }
  blob.state = 'verified';
  return bytes;
}
