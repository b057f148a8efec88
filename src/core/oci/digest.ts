import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${sha256Hex(data)}`;
}

export function digestHex(digest: string): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest : digest.slice(colon + 1);
}

export class DigestMismatchError extends Error {
  constructor(
    readonly subject: string,
    readonly expected: { digest: string; size: number },
    readonly actual: { digest: string; size: number },
  ) {
    const what =
      actual.size !== expected.size
        ? `size ${actual.size} bytes, expected ${expected.size}`
        : `digest ${actual.digest}, expected ${expected.digest}`;
    super(`${subject}: content does not match its descriptor (${what})`);
    this.name = 'DigestMismatchError';
  }
}

/**
 * Passes bytes through while hashing them; fails the stream if more bytes than
 * expected arrive, and at the end if the digest or size differ. Nothing that
 * flows through it is trusted until it ends without error.
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;

  constructor(
    readonly expected: { digest: string; size: number },
    readonly subject: string,
    readonly onBytes?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 256 << 10 });
    if (!expected.digest.startsWith('sha256:')) {
      throw new Error(`${subject}: unsupported digest algorithm in ${expected.digest} (only sha256 is supported)`);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#size > this.expected.size) {
      callback(new DigestMismatchError(this.subject, this.expected, { digest: 'unknown', size: this.#size }));
      return;
    }
    this.#hash.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = { digest: `sha256:${this.#hash.digest('hex')}`, size: this.#size };
    if (actual.size !== this.expected.size || actual.digest !== this.expected.digest) {
      callback(new DigestMismatchError(this.subject, this.expected, actual));
      return;
    }
    callback();
  }
}
