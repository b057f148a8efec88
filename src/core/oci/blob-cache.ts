/**
 * A content-addressed cache of verified blobs, so an interrupted or repeated
 * create never downloads a blob twice. A file appears under its digest only
 * after every byte of it was hashed and matched; partial downloads live under
 * a temporary name and are removed on failure.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, VerifyingStream, digestHex } from './digest.js';
import { isTransientNetworkError, sleep } from './retry.js';
import type { Descriptor } from './types.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LADING_CACHE_DIR) return env.LADING_CACHE_DIR;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lading', 'blobs');
}

const STREAM_ATTEMPTS = 3;

export class BlobCache {
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  path(digest: string): string {
    return join(this.dir, 'sha256', digestHex(digest));
  }

  async has(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    try {
      const info = await stat(this.path(descriptor.digest));
      return info.isFile() && info.size === descriptor.size;
    } catch {
      return false;
    }
  }

  /**
   * Makes sure the blob is in the cache, opening it with `open` when it is not.
   * `onBytes` is told of new bytes only: a retried stream does not count the
   * bytes it already counted, so progress never goes backwards.
   */
  async ensure(
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    subject: string,
    open: () => Promise<Readable>,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<'cached' | 'downloaded'> {
    if (await this.has(descriptor)) return 'cached';
    let pending = this.#inflight.get(descriptor.digest);
    if (!pending) {
      pending = this.#download(descriptor, subject, open, onBytes, signal).finally(() => this.#inflight.delete(descriptor.digest));
      this.#inflight.set(descriptor.digest, pending);
    }
    await pending;
    return 'downloaded';
  }

  async #download(
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    subject: string,
    open: () => Promise<Readable>,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const final = this.path(descriptor.digest);
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    let counted = 0;
    for (let attempt = 1; ; attempt++) {
      const part = `${final}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
      let seen = 0;
      try {
        const body = await open();
        const verify = new VerifyingStream(descriptor, subject, (n) => {
          seen += n;
          if (seen > counted) {
            onBytes(seen - counted);
            counted = seen;
          }
        });
        await pipeline(body, verify, createWriteStream(part, { highWaterMark: 1 << 20 }), signal ? { signal } : {});
        await rename(part, final);
        return;
      } catch (error) {
        await unlink(part).catch(() => undefined);
        const again = attempt < STREAM_ATTEMPTS && !signal?.aborted && (isTransientNetworkError(error) || error instanceof DigestMismatchError);
        if (!again) throw error;
        await sleep(250 * attempt, signal);
      }
    }
  }
}
