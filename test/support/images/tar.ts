// Layer contents as canonical tar entries, our own ustar writer, and our own
// gzip framing with stored deflate blocks.

import zlib from 'node:zlib';

import { FIXED_MTIME, seededRandomChunks } from './helpers.js';
import type { LayerSpec, RandomLayerSpec } from './types.js';

export function isRandomLayer(layer: LayerSpec): layer is RandomLayerSpec {
  return 'randomBytes' in layer;
}

function normalizePath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad path in layer: "${p}"`);
  return parts.join('/');
}

export type TarItem =
  | { kind: 'dir'; name: string; mode: number }
  | { kind: 'file'; name: string; mode: number; data: Buffer }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'random'; name: string; mode: number; seed: string; size: number };

/** Tar entries of a layer in a canonical order (sorted, parents first). */
export function tarItems(layer: LayerSpec): TarItem[] {
  const items = new Map<string, TarItem>();
  const addParents = (name: string) => {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!items.has(dir)) items.set(dir, { kind: 'dir', name: dir, mode: 0o755 });
    }
  };
  if (isRandomLayer(layer)) {
    if (!Number.isSafeInteger(layer.randomBytes) || layer.randomBytes < 0) throw new Error(`bad randomBytes ${layer.randomBytes}`);
    const name = normalizePath(layer.path ?? `data/${layer.seed.replace(/[^A-Za-z0-9._-]/g, '_')}.bin`);
    addParents(name);
    items.set(name, { kind: 'random', name, mode: 0o644, seed: layer.seed, size: layer.randomBytes });
  } else {
    for (const [rawName, value] of Object.entries(layer.files)) {
      const name = normalizePath(rawName);
      addParents(name);
      if (typeof value === 'string' || Buffer.isBuffer(value)) {
        items.set(name, { kind: 'file', name, mode: 0o644, data: Buffer.from(value) });
      } else if ('symlink' in value) {
        items.set(name, { kind: 'symlink', name, target: value.symlink });
      } else if ('directory' in value) {
        items.set(name, { kind: 'dir', name, mode: value.mode ?? 0o755 });
      } else {
        items.set(name, { kind: 'file', name, mode: value.mode ?? 0o644, data: Buffer.from(value.content) });
      }
    }
  }
  return [...items.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// --- tar (ustar) writer: our own, so the bytes depend on nothing but this file.

const TAR_BLOCK = 512;
const MAX_USTAR_SIZE = 8 ** 11 - 1; // 11 octal digits

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  const s = value.toString(8).padStart(width - 1, '0');
  if (s.length > width - 1) throw new Error(`tar: value ${value} does not fit ${width - 1} octal digits`);
  buf.write(`${s}\0`, offset, width, 'ascii');
}

function splitUstarName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100 && base !== '') return { prefix, base };
  }
  throw new Error(`tar: path too long for ustar: ${name}`);
}

const MTIME_SECONDS = Math.floor(FIXED_MTIME.getTime() / 1000);

function tarHeader(name: string, type: '0' | '2' | '5', mode: number, size: number, linkname = ''): Buffer {
  if (size > MAX_USTAR_SIZE) throw new Error(`tar: ${name} is larger than 8 GiB`);
  if (Buffer.byteLength(linkname) > 100) throw new Error(`tar: symlink target too long: ${linkname}`);
  const h = Buffer.alloc(TAR_BLOCK);
  const { prefix, base } = splitUstarName(name);
  h.write(base, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME_SECONDS);
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  octal(h, 329, 8, 0); // devmajor
  octal(h, 337, 8, 0); // devminor
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Calls `emit` with the tar stream of `items`, chunk by chunk (awaiting it: backpressure). */
export async function writeTar(items: TarItem[], emit: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  const pad = (n: number) => (TAR_BLOCK - (n % TAR_BLOCK)) % TAR_BLOCK;
  for (const it of items) {
    switch (it.kind) {
      case 'dir':
        await emit(tarHeader(`${it.name}/`, '5', it.mode, 0));
        break;
      case 'symlink':
        await emit(tarHeader(it.name, '2', 0o777, 0, it.target));
        break;
      case 'file': {
        const p = pad(it.data.length);
        await emit(Buffer.concat([tarHeader(it.name, '0', it.mode, it.data.length), it.data, Buffer.alloc(p)]));
        break;
      }
      case 'random': {
        await emit(tarHeader(it.name, '0', it.mode, it.size));
        for await (const chunk of seededRandomChunks(it.seed, it.size)) await emit(chunk);
        const p = pad(it.size);
        if (p) await emit(Buffer.alloc(p));
        break;
      }
    }
  }
  await emit(Buffer.alloc(2 * TAR_BLOCK));
}

// --- gzip with stored (level 0) deflate blocks: our own framing (zlib-version independent, memcpy speed).

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]); // no flags, mtime 0, OS unix
const STORED_MAX = 0xffff;

export class StoredGzip {
  private crc = 0;
  private size = 0;
  private started = false;
  /** The gzip bytes for `data` (non-final stored blocks), as pieces that share `data`'s memory (no copy). */
  write(data: Buffer): Buffer[] {
    this.crc = zlib.crc32(data, this.crc);
    this.size = (this.size + data.length) % 2 ** 32;
    const pieces: Buffer[] = [];
    if (!this.started) {
      pieces.push(GZIP_HEADER);
      this.started = true;
    }
    const blocks = Math.ceil(data.length / STORED_MAX);
    const headers = Buffer.allocUnsafe(5 * blocks);
    for (let b = 0, i = 0; i < data.length; b++, i += STORED_MAX) {
      const n = Math.min(STORED_MAX, data.length - i);
      const h = headers.subarray(5 * b, 5 * b + 5);
      h[0] = 0x00; // BFINAL=0, BTYPE=00 (stored)
      h.writeUInt16LE(n, 1);
      h.writeUInt16LE(~n & 0xffff, 3);
      pieces.push(h, data.subarray(i, i + n));
    }
    return pieces;
  }
  /** An empty final stored block, then CRC32 and ISIZE. */
  end(): Buffer {
    const prefix = this.started ? Buffer.alloc(0) : GZIP_HEADER;
    const tail = Buffer.alloc(13);
    tail[0] = 0x01; // BFINAL=1, stored
    tail.writeUInt16LE(0, 1);
    tail.writeUInt16LE(0xffff, 3);
    tail.writeUInt32LE(this.crc >>> 0, 5);
    tail.writeUInt32LE(this.size >>> 0, 9);
    return Buffer.concat([prefix, tail]);
  }
}
