/**
 * A bundle split into parts for media with a file size limit (FAT32: 4 GiB):
 * `NAME.tar.001`, `.002`, ... are consecutive slices of the one tar (so
 * `cat NAME.tar.0*` gives it back), and `NAME.parts` lists each part with its
 * size and sha256. Readers take the `.parts` file (or any part) and read
 * across parts as if they were one file; a missing or resized part is named
 * when the bundle is opened, before anything uses it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';

export const PARTS_SCHEMA = 'lading.dev/parts/v1';
const PART_NAME = /^[A-Za-z0-9._+~-]{1,200}\.\d{3}$/;
const MIN_PART = 1 << 20;

export interface PartsFile {
  schema: typeof PARTS_SCHEMA;
  /** Size and sha256 of the whole tar, as create printed them. */
  size: number;
  sha256: string;
  parts: Array<{ file: string; size: number; sha256: string }>;
}

/** `site.lading.tar` -> `site.lading`: the parts are NAME.tar.001..., the list NAME.parts. */
export function partsListPath(output: string): string {
  return output.replace(/\.tar$/, '') + '.parts';
}

export function partPath(output: string, index: number): string {
  return `${output}.${String(index + 1).padStart(3, '0')}`;
}

/** `--split 4GiB`: a size of at least 1 MiB, in bytes. */
export function parseSplitSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)?$/i.exec(text.trim());
  const units: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const bytes = match ? Math.floor(Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]!) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < MIN_PART) {
    throw new AbortError(`--split ${printable(text)}: expected a size of at least 1MiB, e.g. 4GiB (FAT32) or 700MiB`, { exitCode: ExitCode.usage });
  }
  // Whole tar blocks per part keeps every header inside one part (nothing depends on it, but it reads better).
  return bytes - (bytes % 512);
}

function partsError(path: string, problem: string, hint = 'Copy the missing or damaged part again; every part listed in the .parts file must sit beside it.'): AbortError {
  return new AbortError(`${path}: ${problem}`, { exitCode: ExitCode.bundle, hint });
}

/** The .parts file that describes `path`, when `path` is one (or a part with its list beside it). */
export async function findPartsList(path: string): Promise<string | undefined> {
  if (path.endsWith('.parts')) return path;
  const part = /^(.*)\.\d{3}$/.exec(path);
  if (!part) return undefined;
  const list = partsListPath(part[1]!);
  return (await stat(list).catch(() => undefined))?.isFile() ? list : undefined;
}

export async function readPartsList(listPath: string): Promise<PartsFile> {
  const bytes = await readFile(listPath).catch((error: NodeJS.ErrnoException) => {
    throw partsError(listPath, error.code === 'ENOENT' ? 'no such file' : `cannot read (${error.code})`);
  });
  let value: unknown;
  try {
    value = parseBoundedJson(bytes, { maxBytes: 1 << 20, maxValues: 100_000, maxDepth: 4 });
  } catch {
    throw partsError(listPath, 'is not a lading parts list (not valid JSON, or too large)', 'Name the .parts file lading create --split wrote.');
  }
  const doc = value as Partial<PartsFile>;
  const ok =
    doc?.schema === PARTS_SCHEMA &&
    Number.isSafeInteger(doc.size) &&
    /^[a-f0-9]{64}$/.test(String(doc.sha256)) &&
    Array.isArray(doc.parts) &&
    doc.parts.length > 0 &&
    doc.parts.every((p) => PART_NAME.test(String(p?.file)) && Number.isSafeInteger(p.size) && p.size > 0 && /^[a-f0-9]{64}$/.test(String(p.sha256))) &&
    doc.parts.reduce((sum, p) => sum + p.size, 0) === doc.size;
  if (!ok) throw partsError(listPath, `is not a valid ${PARTS_SCHEMA} list (parts must be plain file names beside it, with sizes adding up)`, 'Name the .parts file lading create --split wrote.');
  return doc as PartsFile;
}

/** The parts of a split bundle opened as one file: positioned reads and ranged streams across part boundaries. */
export class PartedFile {
  private constructor(
    readonly listPath: string,
    readonly parts: ReadonlyArray<{ path: string; size: number; start: number; sha256: string; handle: FileHandle }>,
    readonly size: number,
  ) {}

  static async open(listPath: string, list: PartsFile): Promise<PartedFile> {
    const opened: Array<{ path: string; size: number; start: number; sha256: string; handle: FileHandle }> = [];
    const problems: string[] = [];
    let start = 0;
    for (const part of list.parts) {
      const path = join(dirname(listPath), part.file);
      const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
        problems.push(`part ${part.file} is ${error.code === 'ENOENT' ? 'missing' : `unreadable (${error.code})`}`);
        return undefined;
      });
      if (handle) {
        opened.push({ path, size: part.size, start, sha256: part.sha256, handle });
        const stats = await handle.stat();
        if (!stats.isFile()) problems.push(`part ${part.file} is not a regular file`);
        else if (stats.size !== part.size) problems.push(`part ${part.file} is ${stats.size} bytes, the list says ${part.size}`);
      }
      start += part.size;
    }
    // Every missing or resized part at once: the operator copies them in one go.
    if (problems.length) {
      await Promise.all(opened.map((p) => p.handle.close()));
      throw partsError(listPath, problems.join('; '));
    }
    return new PartedFile(listPath, opened, start);
  }

  /** Of the parts holding bytes `start`..`end`, those whose content no longer matches the list's sha256. */
  async damagedParts(start: number, end: number): Promise<string[]> {
    const damaged: string[] = [];
    for (const part of this.parts.filter((p) => p.start <= end && p.start + p.size > start)) {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(part.path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
      if (hash.digest('hex') !== part.sha256) damaged.push(basename(part.path));
    }
    return damaged;
  }

  /** FileHandle.read's shape, across parts. */
  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }> {
    let done = 0;
    for (const part of this.parts) {
      if (done >= length) break;
      const at = position + done;
      if (at >= part.start + part.size || at < part.start) continue;
      const want = Math.min(length - done, part.start + part.size - at);
      const { bytesRead } = await part.handle.read(buffer, offset + done, want, at - part.start);
      done += bytesRead;
      if (bytesRead < want) break;
    }
    return { bytesRead: done, buffer };
  }

  /** Where `length` bytes from `start` of the whole tar lie: each part's descriptor and offset. */
  segments(start: number, length: number): Array<{ fd: number; position: number; length: number }> {
    const end = start + length;
    return this.parts
      .filter((p) => p.start < end && p.start + p.size > start)
      .map((p) => {
        const from = Math.max(start, p.start);
        return { fd: p.handle.fd, position: from - p.start, length: Math.min(end, p.start + p.size) - from };
      });
  }

  /** Bytes `start`..`end` (inclusive) of the whole tar as one stream. */
  stream(start: number, end: number): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const slices = this.parts
      .filter((p) => p.start <= end && p.start + p.size > start)
      .map((p) => ({ path: p.path, from: Math.max(start, p.start) - p.start, to: Math.min(end, p.start + p.size - 1) - p.start }));
    // Resolves on drain, or when the reader went away (then the loop stops and closes its file).
    const room = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          resolve();
        };
        out.once('drain', done);
        out.once('close', done);
      });
    void (async () => {
      for (const slice of slices) {
        const source = createReadStream(slice.path, { start: slice.from, end: slice.to, highWaterMark: 1 << 20 });
        for await (const chunk of source) {
          if (out.destroyed) return;
          if (!out.write(chunk)) await room();
        }
      }
      out.end();
    })().catch((error: Error) => out.destroy(error));
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.handle.close()));
  }
}
