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
 *
 * Nothing a registry names reaches a path unchecked: digests must be sha256
 * with 64 lowercase hex digits. A file an earlier run left is hashed again
 * before it is trusted, unless its verification was recorded beside it
 * (`<hex>.verified`: size, inode, device, mtime and ctime when it was
 * hashed) and the file still has exactly those: any write, rename or
 * replacement changes one of them. A file that no longer matches is evicted
 * and fetched again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortError, RegistryError } from '../errors.js';
import { removeStaleCacheParts } from '../util/leftovers.js';
import { printable } from '../util/printable.js';
import { DigestMismatchError, VerifyingStream, digestHex } from './digest.js';
import { CHUNK, TrackedFileSink, followLive, notify, type LiveDownload } from './live-download.js';
import { isTransientNetworkError, sleep } from './retry.js';
import type { Descriptor } from './types.js';
import { SHA256_DIGEST, isSize } from './validate.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LADING_CACHE_DIR) return env.LADING_CACHE_DIR;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lading', 'blobs');
}

const STREAM_ATTEMPTS = 3;
const RECORD_SUFFIX = '.verified';

/** What identifies a cache file's bytes without reading them: the digest and size it must have, and the file's inode, device, mtime and ctime. */
function fileIdentity(descriptor: Digestible, info: Stats): string {
  return JSON.stringify({ digest: descriptor.digest, size: info.size, ino: info.ino, dev: info.dev, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs });
}

type Digestible = Pick<Descriptor, 'digest' | 'size'>;


export class BlobCache {
  readonly #inflight = new Map<string, Promise<'cached' | 'downloaded'>>();
  readonly #live = new Map<string, LiveDownload>();
  /** Blobs this process downloaded and hashed: no need to hash them again when copying. */
  readonly #verified = new Set<string>();
  readonly #started = new Map<string, Set<() => void>>();
  #swept: Promise<unknown> | undefined;

  constructor(readonly dir: string) {}

  /** The cache file of a blob; refuses any digest that is not sha256 and 64 lowercase hex digits. */
  path(digest: string): string {
    if (!SHA256_DIGEST.test(digest)) {
      throw new RegistryError(`blob "${printable(digest.slice(0, 200))}": not a sha256 digest (sha256: and 64 lowercase hex digits)`);
    }
    return join(this.dir, 'sha256', digestHex(digest));
  }

  async has(descriptor: Digestible): Promise<boolean> {
    const path = this.path(descriptor.digest);
    try {
      const info = await stat(path);
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
   * bytes it already counted, so progress never goes backwards. A file an
   * earlier run left is hashed first ('cached' only when it still matches).
   */
  async ensure(
    descriptor: Digestible,
    subject: string,
    open: () => Promise<Readable>,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<'cached' | 'downloaded'> {
    if (!SHA256_DIGEST.test(descriptor.digest) || !isSize(descriptor.size)) {
      throw new RegistryError(`${printable(subject)}: refused a descriptor without a sha256 digest and a valid size`);
    }
    if (this.#verified.has(descriptor.digest) && (await this.has(descriptor))) return 'cached';
    let pending = this.#inflight.get(descriptor.digest);
    if (!pending) {
      pending = this.#obtain(descriptor, subject, open, onBytes, signal).finally(() => this.#inflight.delete(descriptor.digest));
      this.#inflight.set(descriptor.digest, pending);
    }
    return pending;
  }

  /** Removes what killed runs left (once per cache); see util/leftovers.ts. */
  #sweep(): Promise<unknown> {
    this.#swept ??= removeStaleCacheParts(join(this.dir, 'sha256'));
    return this.#swept;
  }

  async #obtain(
    descriptor: Digestible,
    subject: string,
    open: () => Promise<Readable>,
    onBytes: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<'cached' | 'downloaded'> {
    await this.#sweep();
    if (await this.has(descriptor)) {
      if ((await this.#recorded(descriptor)) || (await this.#matches(descriptor, signal))) {
        this.#verified.add(descriptor.digest);
        await this.#record(descriptor);
        return 'cached';
      }
      // Same size, other bytes (disk fault, someone's edit): not a reason to fail, just to fetch it again.
      await unlink(this.path(descriptor.digest)).catch(() => undefined);
      await unlink(`${this.path(descriptor.digest)}${RECORD_SUFFIX}`).catch(() => undefined);
    }
    await this.#download(descriptor, subject, open, onBytes, signal);
    return 'downloaded';
  }

  /** Whether the file is exactly as it was when its hash was last found to match (see the file's comment). */
  async #recorded(descriptor: Digestible): Promise<boolean> {
    const path = this.path(descriptor.digest);
    try {
      const [record, info] = await Promise.all([readFile(`${path}${RECORD_SUFFIX}`, 'utf8'), stat(path)]);
      return record === fileIdentity(descriptor, info);
    } catch {
      return false;
    }
  }

  /** Notes that the file's hash matched, with what identifies the file as it is now; best effort. */
  async #record(descriptor: Digestible): Promise<void> {
    const path = this.path(descriptor.digest);
    try {
      const identity = fileIdentity(descriptor, await stat(path));
      const temporary = `${path}${RECORD_SUFFIX}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
      await writeFile(temporary, identity, { flag: 'wx' });
      await rename(temporary, `${path}${RECORD_SUFFIX}`);
    } catch {
      // Without a record, the next run hashes the file again: slower, never wrong.
    }
  }

  async #matches(descriptor: Digestible, signal?: AbortSignal): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(this.path(descriptor.digest), { highWaterMark: CHUNK, ...(signal ? { signal } : {}) })) {
        hash.update(chunk as Buffer);
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      return false;
    }
    return `sha256:${hash.digest('hex')}` === descriptor.digest;
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
          await this.#record(descriptor);
          live.path = final;
          live.state = 'done';
          notify(live);
          return;
        } catch (error) {
          await unlink(part).catch(() => undefined);
          const transient = isTransientNetworkError(error);
          const again = attempt < STREAM_ATTEMPTS && !signal?.aborted && (transient || error instanceof DigestMismatchError);
          if (!again) throw transient && !signal?.aborted ? brokenOff(subject, attempt, error) : error;
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

/** A download that kept breaking off: the registry's fault, not lading's (no bug banner). */
function brokenOff(subject: string, attempts: number, error: unknown): unknown {
  if (error instanceof AbortError) return error;
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code ?? 'connection lost';
  return new RegistryError(`${printable(subject)}: the download broke off ${attempts} times (${printable(String(code))})`, {
    cause: error,
    hint: 'The registry or the network keeps dropping the connection; try again later or use another mirror.',
  });
}

