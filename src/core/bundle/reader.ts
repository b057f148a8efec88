/**
 * Random access into a bundle: walks the tar headers with positioned reads
 * (tar-walk.ts: no blob bytes are read, hostile tars refused), then serves any
 * entry as a bounded stream. The documents inside are read through
 * documents.ts (readDescription), which checks them: there is no unchecked way.
 */
import { constants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import { blobPath } from './layout.js';
import { walkTarHeaders, type TarEntry } from './tar-walk.js';

export type { TarEntry } from './tar-walk.js';

const MAX_JSON_BYTES = 64 << 20;

function bundleError(path: string, problem: string, hint?: string): AbortError {
  return new AbortError(`${path}: ${problem}`, {
    exitCode: ExitCode.bundle,
    hint: hint ?? 'Is this a bundle written by lading create? Run lading verify on it, or copy it again.',
  });
}

export class BundleReader {
  readonly #handle: FileHandle;

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly entries: ReadonlyMap<string, TarEntry>,
    handle: FileHandle,
  ) {
    this.#handle = handle;
  }

  static async open(path: string): Promise<BundleReader> {
    let handle: FileHandle;
    try {
      // Non-blocking, so a FIFO named as the bundle cannot hang the open; the stat below refuses it.
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const problem = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a regular file' : `cannot open (${code})`;
      throw bundleError(path, problem, 'Check the path of the bundle.');
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw bundleError(path, `is ${stats.isDirectory() ? 'a directory' : stats.isFIFO() ? 'a FIFO' : 'a device or socket'}, not a regular file`, 'Name the bundle file itself.');
      const { size } = stats;
      const entries = await walkTarHeaders(path, handle, size);
      return new BundleReader(path, size, entries, handle);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  blobEntry(digest: string): TarEntry | undefined {
    return this.entries.get(blobPath(digest));
  }

  async readEntry(name: string, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
    const entry = this.entries.get(name);
    if (!entry) throw bundleError(this.path, `has no ${name}`);
    if (entry.size > maxBytes) throw bundleError(this.path, `${name} is ${entry.size} bytes, more than lading reads into memory`);
    const buffer = Buffer.alloc(entry.size);
    const { bytesRead } = await this.#handle.read(buffer, 0, entry.size, entry.offset);
    if (bytesRead !== entry.size) throw bundleError(this.path, `${name} is truncated`);
    return buffer;
  }

  /** A stream of one entry's bytes from `start` (a resumed upload continues there); the caller verifies them. */
  openEntry(entry: TarEntry, start = 0): Readable {
    if (entry.size - start <= 0) return createReadStream(this.path, { start: 1, end: 0 });
    return createReadStream(this.path, { start: entry.offset + start, end: entry.offset + entry.size - 1, highWaterMark: 1 << 20 });
  }
}
