/**
 * Random access into a bundle: walks the tar headers with positioned reads
 * (no blob bytes are read), then serves any entry as a bounded stream. It is
 * written to be safe on hostile input: names must stay inside the layout,
 * sizes must fit the file, duplicates are refused.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import type { ImageIndex } from '../oci/types.js';
import { METADATA_FILE, METADATA_SCHEMA, OCI_INDEX_FILE, blobPath, type BundleMetadata } from './layout.js';

export interface TarEntry {
  name: string;
  /** Offset of the entry's data in the file. */
  offset: number;
  size: number;
}

const BLOCK = 512;
const MAX_JSON_BYTES = 64 << 20;

function bundleError(path: string, problem: string, hint?: string): AbortError {
  return new AbortError(`${path}: ${problem}`, {
    exitCode: ExitCode.bundle,
    hint: hint ?? 'Is this a bundle written by lading create? Run lading verify on it, or copy it again.',
  });
}

function readString(block: Buffer, start: number, length: number): string {
  const slice = block.subarray(start, start + length);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? slice.length : nul).toString('utf8');
}

function readSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256 for sizes over 8 GiB.
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = readString(block, 124, 12).trim();
  if (!/^[0-7]*$/.test(text)) return Number.NaN;
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = parseInt(readString(block, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === stored;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const length = parseInt(data.subarray(i, space).toString('utf8'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, i + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += length;
  }
  return out;
}

function safeName(name: string): boolean {
  if (name === '' || name.startsWith('/') || name.includes('\\')) return false;
  return !name.split('/').some((part) => part === '..');
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
      handle = await open(path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw bundleError(path, code === 'ENOENT' ? 'no such file' : `cannot open (${code})`, 'Check the path of the bundle.');
    }
    try {
      const { size } = await handle.stat();
      const entries = await walkHeaders(path, handle, size);
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

  async readJson<T>(name: string): Promise<T> {
    const bytes = await this.readEntry(name);
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch {
      throw bundleError(this.path, `${name} is not valid JSON`);
    }
  }

  /** A stream of one entry's bytes; the caller verifies them. */
  openEntry(entry: TarEntry): Readable {
    if (entry.size === 0) return createReadStream(this.path, { start: 1, end: 0 });
    return createReadStream(this.path, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 1 << 20 });
  }

  async metadata(): Promise<BundleMetadata> {
    if (!this.has(METADATA_FILE)) {
      throw bundleError(this.path, `has no ${METADATA_FILE}: it is an OCI archive, but not one written by lading`);
    }
    const metadata = await this.readJson<BundleMetadata>(METADATA_FILE);
    if (metadata?.schema !== METADATA_SCHEMA || !Array.isArray(metadata.images)) {
      throw bundleError(this.path, `${METADATA_FILE} has schema "${String(metadata?.schema)}", lading reads ${METADATA_SCHEMA}`, 'Use the lading version that wrote this bundle.');
    }
    return metadata;
  }

  async index(): Promise<ImageIndex> {
    const index = await this.readJson<ImageIndex>(OCI_INDEX_FILE);
    if (!Array.isArray(index?.manifests)) throw bundleError(this.path, `${OCI_INDEX_FILE} has no manifests list`);
    return index;
  }
}

async function walkHeaders(path: string, handle: FileHandle, fileSize: number): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const block = Buffer.alloc(BLOCK);
  let offset = 0;
  let pendingName: string | undefined;
  let sawEnd = false;
  while (offset + BLOCK <= fileSize) {
    const { bytesRead } = await handle.read(block, 0, BLOCK, offset);
    if (bytesRead !== BLOCK) break;
    if (block.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    if (!checksumOk(block)) throw bundleError(path, `damaged tar header at byte ${offset}`);
    const size = readSize(block);
    if (!Number.isFinite(size) || size < 0) throw bundleError(path, `bad size in tar header at byte ${offset}`);
    const dataStart = offset + BLOCK;
    if (dataStart + size > fileSize) throw bundleError(path, `truncated: an entry at byte ${offset} runs past the end of the file`);
    const type = String.fromCharCode(block[156]!);
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'L') {
      if (size > 1 << 20) throw bundleError(path, `oversized extended header at byte ${offset}`);
      const data = Buffer.alloc(size);
      await handle.read(data, 0, size, dataStart);
      pendingName = type === 'L' ? readString(data, 0, size) : (parsePax(data).path ?? pendingName);
      offset = next;
      continue;
    }
    if (type === 'g') {
      offset = next;
      continue;
    }
    const prefix = block.subarray(257, 262).toString('latin1') === 'ustar' ? readString(block, 345, 155) : '';
    let name = pendingName ?? (prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100));
    pendingName = undefined;
    name = name.replace(/^\.\//, '');
    if (type === '5' || name.endsWith('/')) {
      offset = next;
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '7') {
      throw bundleError(path, `unexpected tar entry type "${type}" for ${name} (links and devices are not allowed in a bundle)`);
    }
    if (!safeName(name)) throw bundleError(path, `tar entry name "${name}" escapes the layout`);
    if (entries.has(name)) throw bundleError(path, `tar entry ${name} appears twice`);
    entries.set(name, { name, offset: dataStart, size });
    offset = next;
  }
  if (!sawEnd) throw bundleError(path, 'truncated: the tar has no end marker', 'The copy is incomplete; copy the bundle again and compare its sha256.');
  return entries;
}
