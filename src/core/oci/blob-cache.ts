/**
 * A content-addressed cache of verified blobs, so an interrupted or repeated
 * create never downloads a blob twice. A file appears under its digest only
 * after every byte of it was hashed and matched; partial downloads live under
 * a temporary name and are removed on failure.
 *
 * While a blob downloads, `follow()` streams it from its partial file as it
 * grows, so the bundle writer can copy a large blob into the tar while it is
 * still arriving instead of after (the stream ends only once the download is
 * verified, and fails if the download fails).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, VerifyingStream, digestHex } from './digest.js';
import { isTransientNetworkError, sleep } from './retry.js';
import type { Descriptor } from './types.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LADING_CACHE_DIR) return env.LADING_CACHE_DIR;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lading', 'blobs');
}

const STREAM_ATTEMPTS = 3;
const CHUNK = 256 << 10;

type Digestible = Pick<Descriptor, 'digest' | 'size'>;

/** A download in progress, as seen by followers. */
interface LiveDownload {
  size: number;
  path: string;
  /** Bytes written to `path` so far. */
  written: number;
  /** Bumped when a retry starts over in a new partial file. */
  attempt: number;
  state: 'running' | 'done' | 'failed';
  error?: unknown;
  waiters: Set<() => void>;
}

function notify(live: LiveDownload): void {
  const waiters = [...live.waiters];
  live.waiters.clear();
  for (const wake of waiters) wake();
}

function changed(live: LiveDownload): Promise<void> {
  return new Promise((resolve) => live.waiters.add(resolve));
}

/** Writes to a file and tells followers how far it got after each write lands. */
class TrackedFileSink extends Writable {
  constructor(
    readonly handle: FileHandle,
    readonly live: LiveDownload,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.handle.write(chunk, 0, chunk.length, null).then(
      ({ bytesWritten }) => {
        this.live.written += bytesWritten;
        notify(this.live);
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  /** Socket chunks are small (~64 KiB): batching them saves a thread-pool round trip each. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.handle.writev(chunks.map((c) => c.chunk)).then(
      ({ bytesWritten }) => {
        this.live.written += bytesWritten;
        notify(this.live);
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.handle.close().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

export class BlobCache {
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #live = new Map<string, LiveDownload>();
  /** Blobs this process downloaded and hashed: no need to hash them again when copying. */
  readonly #verified = new Set<string>();
  readonly #started = new Map<string, Set<() => void>>();

  constructor(readonly dir: string) {}

  path(digest: string): string {
    return join(this.dir, 'sha256', digestHex(digest));
  }

  async has(descriptor: Digestible): Promise<boolean> {
    try {
      const info = await stat(this.path(descriptor.digest));
      return info.isFile() && info.size === descriptor.size;
    } catch {
      return false;
    }
  }

  verifiedThisRun(digest: string): boolean {
    return this.#verified.has(digest);
  }

  /** True while a download of this blob is under way. */
  isDownloading(digest: string): boolean {
    return this.#live.has(digest);
  }

  /** Resolves once the blob is cached or its download has started. */
  async whenAvailable(descriptor: Digestible): Promise<void> {
    if (this.#live.has(descriptor.digest) || (await this.has(descriptor))) return;
    await new Promise<void>((resolve) => {
      let set = this.#started.get(descriptor.digest);
      if (!set) this.#started.set(descriptor.digest, (set = new Set()));
      set.add(resolve);
    });
  }

  /**
   * The bytes of a blob being downloaded, from its first byte, as they land on
   * disk. Ends when the download is verified; errors when it fails. Undefined
   * when no download of it is running.
   */
  follow(digest: string): Readable | undefined {
    const live = this.#live.get(digest);
    if (!live) return undefined;
    return Readable.from(followLive(live), { objectMode: false, highWaterMark: CHUNK });
  }

  /**
   * Makes sure the blob is in the cache, opening it with `open` when it is not.
   * `onBytes` is told of new bytes only: a retried stream does not count the
   * bytes it already counted, so progress never goes backwards.
   */
  async ensure(
    descriptor: Digestible,
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

  #announce(digest: string): void {
    const waiters = this.#started.get(digest);
    this.#started.delete(digest);
    for (const wake of waiters ?? []) wake();
  }

  async #download(
    descriptor: Digestible,
    subject: string,
    openBody: () => Promise<Readable>,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const final = this.path(descriptor.digest);
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    const live: LiveDownload = { size: descriptor.size, path: '', written: 0, attempt: 0, state: 'running', waiters: new Set() };
    let counted = 0;
    try {
      for (let attempt = 1; ; attempt++) {
        const part = `${final}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
        let seen = 0;
        try {
          const handle = await open(part, 'wx');
          live.path = part;
          live.written = 0;
          live.attempt = attempt;
          if (attempt === 1) {
            this.#live.set(descriptor.digest, live);
            this.#announce(descriptor.digest);
          }
          notify(live);
          const body = await openBody();
          const verify = new VerifyingStream(descriptor, subject, (n) => {
            seen += n;
            if (seen > counted) {
              onBytes(seen - counted);
              counted = seen;
            }
          });
          await pipeline(body, verify, new TrackedFileSink(handle, live), signal ? { signal } : {});
          await rename(part, final);
          this.#verified.add(descriptor.digest);
          live.path = final;
          live.state = 'done';
          notify(live);
          return;
        } catch (error) {
          await unlink(part).catch(() => undefined);
          const again = attempt < STREAM_ATTEMPTS && !signal?.aborted && (isTransientNetworkError(error) || error instanceof DigestMismatchError);
          if (!again) throw error;
          await sleep(250 * attempt, signal);
        }
      }
    } catch (error) {
      live.state = 'failed';
      live.error = error;
      notify(live);
      throw error;
    } finally {
      this.#live.delete(descriptor.digest);
      // Nobody waits forever on a blob whose download ended (writers re-check the cache).
      this.#announce(descriptor.digest);
    }
  }
}

/** Reads a growing partial file; follows a retry into its new file at the same offset (same content). */
async function* followLive(live: LiveDownload): AsyncGenerator<Buffer> {
  let position = 0;
  let attempt = -1;
  let handle: FileHandle | undefined;
  try {
    while (position < live.size) {
      if (live.state === 'failed') throw live.error ?? new Error('download failed');
      if (attempt !== live.attempt) {
        await handle?.close();
        handle = undefined;
        attempt = live.attempt;
      }
      // A partial file of a failed attempt may be gone already; the next attempt announces itself.
      handle ??= await open(live.path, 'r').catch(() => undefined);
      // Opening raced with the rename that finished the download: the file now has its final name.
      if (!handle && live.state === 'done') handle = await open(live.path, 'r');
      const limit = live.state === 'done' ? live.size : live.written;
      if (handle && limit > position) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, limit - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
          continue;
        }
      }
      if (live.state === 'done') throw new Error(`cached blob ${live.path} is shorter than ${live.size} bytes`);
      await changed(live);
    }
    // Every byte arrived; the stream ends only once the download is verified.
    while (live.state === 'running') await changed(live);
    if (live.state === 'failed') throw live.error ?? new Error('download failed');
  } finally {
    await handle?.close();
  }
}
