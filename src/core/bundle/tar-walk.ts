/**
 * Walks a bundle's tar headers with positioned reads (no blob bytes are read)
 * and returns where each regular file's data is. Every bundle is hostile: the
 * tar must read the same in lading, Go's archive/tar (containerd, skopeo) and
 * GNU tar, or it is refused with one line naming the file, the byte offset and
 * the entry. Memory is bounded (one header, one extended header of at most
 * 1 MiB, the names) and time is linear in the number of headers.
 */
import { AbortError, ExitCode } from '../errors.js';
import { printable } from '../util/printable.js';
import {
  BLOCK,
  HeaderProblem,
  cString,
  decodeUtf8,
  displayName,
  normaliseName,
  parseHeader,
  parsePax,
  paxEffect,
  showBytes,
  typeLabel,
  type RawHeader,
} from './tar-header.js';

export interface TarEntry {
  /** The normalised name ("./a//b" is "a/b"). */
  name: string;
  /** Offset of the entry's data in the file. */
  offset: number;
  size: number;
}

/** What the walk reads from: a FileHandle, or bytes in memory in tests. */
export interface TarSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

const MAX_EXTENDED_BYTES = 1 << 20;
export const MAX_ENTRIES = 1_000_000;
const MAX_TOTAL_NAME_BYTES = 128 << 20;
const TRAILER_CHUNK = 1 << 20;

const REFUSED_HINT = 'lading reads a bundle only when every tar reader would read it the same way. Re-create it with lading create, or copy it again if it was damaged.';
const TRUNCATED_HINT = 'The copy is incomplete; copy the bundle again and compare its sha256.';

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  '7': 'contiguous file (containerd skips it, GNU tar extracts it)',
  S: 'GNU sparse file',
  V: 'GNU volume label',
  M: 'GNU multi-volume continuation',
  N: 'GNU old long name',
  K: 'GNU long link name',
  D: 'GNU incremental directory',
  X: 'Solaris extended header',
  A: 'Solaris ACL',
  E: 'Solaris extended attributes',
  I: 'inode metadata',
};

/** Set by an `x` or `L` header, used by the next entry. */
interface Extended {
  kind: 'x' | 'L';
  offset: number;
  path?: string;
  size?: number;
}

export interface TarLimits {
  /** Files, directories and global headers; tests lower it. */
  maxEntries?: number;
}

export async function walkTarHeaders(path: string, handle: TarSource, fileSize: number, limits: TarLimits = {}): Promise<Map<string, TarEntry>> {
  return new TarWalk(path, handle, fileSize, limits.maxEntries ?? MAX_ENTRIES).run();
}

class TarWalk {
  readonly entries = new Map<string, TarEntry>();
  /** Directory name -> offset of its header. */
  readonly dirs = new Map<string, number>();
  count = 0;
  nameBytes = 0;

  constructor(
    readonly path: string,
    readonly source: TarSource,
    readonly fileSize: number,
    readonly maxEntries: number,
  ) {}

  /** "FILE: tar entry "NAME" at byte N: PROBLEM", one line, everything from the tar escaped. */
  fail(offset: number, entry: string | undefined, problem: string, hint = REFUSED_HINT): AbortError {
    const where = entry === undefined ? `tar header at byte ${offset}` : `tar entry "${entry}" at byte ${offset}`;
    return new AbortError(printable(`${this.path}: ${where}: ${problem}`), { exitCode: ExitCode.bundle, hint });
  }

  truncated(offset: number, problem: string): AbortError {
    return new AbortError(printable(`${this.path}: truncated: ${problem} (byte ${offset})`), { exitCode: ExitCode.bundle, hint: TRUNCATED_HINT });
  }

  async readExactly(buffer: Buffer, position: number): Promise<void> {
    const { bytesRead } = await this.source.read(buffer, 0, buffer.length, position);
    if (bytesRead !== buffer.length) throw this.truncated(position, 'the file ended while reading it');
  }

  async run(): Promise<Map<string, TarEntry>> {
    const block = Buffer.alloc(BLOCK);
    let offset = 0;
    let pending: Extended | undefined;
    for (;;) {
      if (this.fileSize - offset < BLOCK) throw this.truncated(offset, 'the tar has no end marker');
      await this.readExactly(block, offset);
      if (block.every((b) => b === 0)) {
        if (pending) throw this.fail(pending.offset, undefined, `extended header (${pending.kind}) is not followed by an entry`);
        await this.checkEnd(offset);
        this.checkParents();
        return this.entries;
      }
      let header: RawHeader;
      try {
        header = parseHeader(block);
      } catch (error) {
        if (error instanceof HeaderProblem) throw this.fail(offset, displayName(block), error.message);
        throw error;
      }
      const shown = showBytes(header.name);
      const { type } = header;
      if (type === 'x' || type === 'L' || type === 'g') {
        if (pending) throw this.fail(offset, shown, `a second extended header (${type}) after the one at byte ${pending.offset}: readers disagree which applies`);
        const data = await this.extendedData(offset, shown, header);
        const effect = this.guard(offset, shown, () => (type === 'L' ? { path: longName(data) } : paxEffect(parsePax(data), type === 'g')));
        if (type === 'g') this.countEntry(offset, shown);
        else pending = { kind: type, offset, ...effect };
        offset += BLOCK + padded(header.size);
        continue;
      }
      const extended = pending;
      pending = undefined;
      const size = extended?.size ?? header.size;
      const name = extended?.path ?? this.guard(offset, shown, () => decodeUtf8(header.name, 'the name'));
      const entry = clip(printable(name));
      if (size > this.fileSize - offset - BLOCK) throw this.truncated(offset, `entry "${entry}" of ${size} bytes runs past the end of the file`);
      if (type === '5') this.addDirectory(offset, entry, name, size);
      else if (type === '0' || type === '\0') this.addFile(offset, entry, name, size);
      else {
        const label = TYPE_NAMES[type] ?? 'unknown type';
        throw this.fail(offset, entry, `type "${typeLabel(type)}" (${label}) is not allowed in a bundle: only regular files and directories`);
      }
      offset += BLOCK + padded(size);
    }
  }

  guard<T>(offset: number, entry: string, step: () => T): T {
    try {
      return step();
    } catch (error) {
      if (error instanceof HeaderProblem) throw this.fail(offset, entry, error.message);
      throw error;
    }
  }

  async extendedData(offset: number, entry: string, header: RawHeader): Promise<Buffer> {
    if (header.size > MAX_EXTENDED_BYTES) throw this.fail(offset, entry, `oversized extended header (${header.size} bytes, at most ${MAX_EXTENDED_BYTES})`);
    if (header.size > this.fileSize - offset - BLOCK) throw this.truncated(offset, 'an extended header runs past the end of the file');
    const data = Buffer.alloc(header.size);
    await this.readExactly(data, offset + BLOCK);
    return data;
  }

  countEntry(offset: number, entry: string): void {
    if (++this.count > this.maxEntries) throw this.fail(offset, entry, `more than ${this.maxEntries} entries`);
  }

  normalise(offset: number, entry: string, name: string): string {
    const normal = this.guard(offset, entry, () => normaliseName(name));
    this.nameBytes += normal.length;
    if (this.nameBytes > MAX_TOTAL_NAME_BYTES) throw this.fail(offset, entry, `the names add up to more than ${MAX_TOTAL_NAME_BYTES} bytes`);
    return normal;
  }

  addDirectory(offset: number, entry: string, name: string, size: number): void {
    this.countEntry(offset, entry);
    // Go skips no data after a directory header, GNU tar skips `size` bytes.
    if (size !== 0) throw this.fail(offset, entry, `directory with a size of ${size} bytes (readers disagree where the next header is)`);
    const normal = this.normalise(offset, entry, name);
    if (normal === '') return; // "./": the archive's root, as GNU tar writes it
    const earlier = this.dirs.get(normal) ?? this.entries.get(normal)?.offset;
    if (earlier !== undefined) throw this.fail(offset, entry, `${normal} appears twice (also at byte ${this.dirs.has(normal) ? earlier : earlier - BLOCK})`);
    this.dirs.set(normal, offset);
  }

  addFile(offset: number, entry: string, name: string, size: number): void {
    this.countEntry(offset, entry);
    const normal = this.normalise(offset, entry, name);
    // Go reads "a/" as a file, GNU tar as a directory.
    const last = name.slice(name.lastIndexOf('/') + 1);
    if (last === '' || last === '.') throw this.fail(offset, entry, 'regular file whose name ends in "/" or "/." (readers disagree whether it is a directory)');
    const earlier = this.entries.get(normal)?.offset ?? this.dirs.get(normal);
    if (earlier !== undefined) throw this.fail(offset, entry, `${normal} appears twice (also at byte ${this.entries.has(normal) ? earlier - BLOCK : earlier})`);
    this.entries.set(normal, { name: normal, offset: offset + BLOCK, size });
  }

  /**
   * GNU tar stops at the first zero block, Go after two (and fails on a zero
   * block followed by anything else): so everything after the first zero
   * block must be zeros, in whole blocks.
   */
  async checkEnd(end: number): Promise<void> {
    const chunk = Buffer.alloc(Math.min(TRAILER_CHUNK, this.fileSize - end - BLOCK));
    for (let at = end + BLOCK; at < this.fileSize; at += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, this.fileSize - at));
      await this.readExactly(part, at);
      const nonZero = part.findIndex((b) => b !== 0);
      if (nonZero !== -1) throw this.fail(at + nonZero, undefined, `content after the end-of-archive marker (the zero block at byte ${end}) at byte ${at + nonZero}`);
    }
    if (this.fileSize % BLOCK !== 0) throw this.fail(this.fileSize, undefined, `the file is ${this.fileSize} bytes, not a whole number of ${BLOCK}-byte blocks`);
  }

  /** A file that is also another entry's parent directory: extractors fail or replace it, lading would read both. */
  checkParents(): void {
    if (this.entries.size === 0) return;
    // With "/" sorted below every other character, "a/..." comes right after "a".
    const keys = [...this.entries.keys(), ...this.dirs.keys()].map((n) => n.replaceAll('/', '\0')).sort();
    for (let i = 0; i + 1 < keys.length; i++) {
      const file = keys[i]!.replaceAll('\0', '/');
      const entry = this.entries.get(file);
      if (entry && keys[i + 1]!.startsWith(`${keys[i]}\0`)) {
        const child = keys[i + 1]!.replaceAll('\0', '/');
        throw this.fail(entry.offset - BLOCK, clip(printable(file)), `is a regular file but also the directory of ${clip(printable(child))}`);
      }
    }
  }
}

/** A name for a message: a PAX path can be 1 MiB long. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** A GNU long name: up to the first NUL (as Go and GNU tar read it); anything but NULs after it is refused. */
function longName(data: Buffer): string {
  const name = cString(data);
  if (data.subarray(name.length).some((b) => b !== 0)) throw new HeaderProblem(`GNU long name has bytes after its NUL (${showBytes(data)})`);
  return decodeUtf8(name, 'the GNU long name');
}
