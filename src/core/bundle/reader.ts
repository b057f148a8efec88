/**
 * Random access into a bundle: walks the tar headers with positioned reads
 * (tar-walk.ts: no blob bytes are read, hostile tars refused), then serves any
 * entry as a bounded stream. The documents inside are read through
 * documents.ts (readDescription), which checks them: there is no unchecked way.
 */
import { constants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import { blobPath } from './layout.js';
import { PartedFile, findPartsList, readPartsList } from './parts.js';
import { readAhead } from './read-ahead.js';
import { walkTarHeaders, type TarEntry, type TarSource } from './tar-walk.js';

export type { TarEntry } from './tar-walk.js';

const MAX_JSON_BYTES = 64 << 20;

function bundleError(path: string, problem: string, hint?: string): AbortError {
  return new AbortError(`${path}: ${problem}`, {
    exitCode: ExitCode.bundle,
    hint: hint ?? 'Is this a bundle written by lading create? Run lading verify on it, or copy it again.',
  });
}

/** Where a bundle's bytes are: one file, or the parts of a split bundle. */
interface BundleSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stream(start: number, end: number): Readable;
  /** Parts of a split bundle holding these bytes whose sha256 no longer matches its list (none for a single file). */
  damagedParts(start: number, end: number): Promise<string[]>;
  /** Where `length` bytes from `start` lie: open descriptors and their offsets (read by a hashing thread). */
  segments(start: number, length: number): FileSegment[];
  close(): Promise<void>;
}

/** A run of bundle bytes in one open file: a thread of this process can read it with the descriptor. */
export interface FileSegment {
  fd: number;
  position: number;
  length: number;
}

function fileSource(path: string, handle: FileHandle): BundleSource {
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    stream: (start, end) => createReadStream(path, { start, end, highWaterMark: 1 << 20 }),
    damagedParts: async () => [],
    segments: (start, length) => [{ fd: handle.fd, position: start, length }],
    close: () => handle.close(),
  };
}

function partedSource(file: PartedFile): BundleSource {
  return {
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    stream: (start, end) => file.stream(start, end),
    damagedParts: (start, end) => file.damagedParts(start, end),
    segments: (start, length) => file.segments(start, length),
    close: () => file.close(),
  };
}

export class BundleReader {
  readonly #source: BundleSource;
  /** Headers and documents: small reads, through a window read ahead. */
  readonly #small: TarSource;

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly entries: ReadonlyMap<string, TarEntry>,
    source: BundleSource,
    small: TarSource,
  ) {
    this.#source = source;
    this.#small = small;
  }

  /** A bundle file, or a split bundle by its .parts list or any of its parts. */
  static async open(path: string): Promise<BundleReader> {
    const list = await findPartsList(path);
    let source: BundleSource;
    let size: number;
    if (list) {
      const parted = await PartedFile.open(list, await readPartsList(list));
      source = partedSource(parted);
      size = parted.size;
    } else {
      ({ source, size } = await openSingleFile(path));
    }
    try {
      const small = readAhead(source, size);
      const entries = await walkTarHeaders(path, small, size);
      return new BundleReader(path, size, entries, source, small);
    } catch (error) {
      await source.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#source.close();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  blobEntry(digest: string): TarEntry | undefined {
    return this.entries.get(blobPath(digest));
  }

  /** For a split bundle: the parts holding an entry that no longer match their sha256, e.g. ["site.lading.tar.003"]. */
  damagedParts(entry: TarEntry): Promise<string[]> {
    return this.#source.damagedParts(entry.offset, entry.offset + entry.size - 1);
  }

  async readEntry(name: string, maxBytes = MAX_JSON_BYTES): Promise<Buffer> {
    const entry = this.entries.get(name);
    if (!entry) throw bundleError(this.path, `has no ${name}`);
    if (entry.size > maxBytes) throw bundleError(this.path, `${name} is ${entry.size} bytes, more than lading reads into memory`);
    const buffer = Buffer.alloc(entry.size);
    const { bytesRead } = await this.#small.read(buffer, 0, entry.size, entry.offset);
    if (bytesRead !== entry.size) throw bundleError(this.path, `${name} is truncated`);
    return buffer;
  }

  /** Reads up to `length` bytes at `position` of the bundle (across parts) into `buffer`. */
  readAt(buffer: Buffer, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.#source.read(buffer, 0, length, position);
  }

  /** An entry's bytes as runs of open descriptors (valid until close): for a thread that hashes them. */
  segmentsOf(entry: TarEntry): FileSegment[] {
    return this.#source.segments(entry.offset, entry.size);
  }

  /** A stream of one entry's bytes from `start` (a resumed upload continues there); the caller verifies them. */
  openEntry(entry: TarEntry, start = 0): Readable {
    if (entry.size - start <= 0) return Readable.from([]);
    return this.#source.stream(entry.offset + start, entry.offset + entry.size - 1);
  }
}

async function openSingleFile(path: string): Promise<{ source: BundleSource; size: number }> {
  let handle: FileHandle;
  try {
    // Non-blocking, so a FIFO named as the bundle cannot hang the open; the stat below refuses it.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a regular file' : `cannot open (${code})`;
    throw bundleError(path, problem, 'Check the path of the bundle.');
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw bundleError(path, `is ${stats.isDirectory() ? 'a directory' : stats.isFIFO() ? 'a FIFO' : 'a device or socket'}, not a regular file`, 'Name the bundle file itself.');
  }
  return { source: fileSource(path, handle), size: stats.size };
}
