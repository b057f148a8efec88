// Deterministic test/demo images, built by our own code and pushed over the
// OCI distribution API (no skopeo): layers are tar (+ gzip), configs and
// manifests are canonical JSON, so the same spec gives the same bytes and
// digests every time, and equal layers are shared across images.
//
// Large layers are streamed (generator -> tar -> hash -> gzip -> hash -> file)
// with bounded memory and cached on disk, content-addressed, under
// ~/.cache/lading/fixture-blobs/ (LADING_FIXTURE_CACHE=DIR to move it,
// LADING_FIXTURE_CACHE=off to disable).

import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Agent, fetch, type Dispatcher, type Response } from 'undici';

// ---------------------------------------------------------------------------
// Media types

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

// ---------------------------------------------------------------------------
// Specs

export type Compression = 'gzip' | 'none';
export type ImageFormat = 'oci' | 'docker';

/** A regular file with a mode, a symlink, or a directory. Plain strings/Buffers are files with mode 0644. */
export type FileValue =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number }
  | { symlink: string }
  | { directory: true; mode?: number };

export interface LayerOptions {
  /** Default: the image's compression (default 'gzip'). */
  compression?: Compression;
  /**
   * zlib level. Default: 1 for `files` layers; 0 (stored deflate blocks: valid
   * gzip, ~6x faster, and no bigger since random data does not compress) for
   * `randomBytes` layers. Part of the layer's identity (digest).
   */
  gzipLevel?: number;
}

export interface FilesLayerSpec extends LayerOptions {
  /** path (leading "/" optional) -> content. Parent directories are added. */
  files: Record<string, FileValue>;
}

export interface RandomLayerSpec extends LayerOptions {
  /** One file of this many pseudo-random bytes (AES-128-CTR keystream keyed by `seed`). */
  randomBytes: number;
  seed: string;
  /** The file's path in the layer. Default: `data/<seed>.bin`. */
  path?: string;
}

export type LayerSpec = FilesLayerSpec | RandomLayerSpec;

export interface ImageConfigSpec {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
}

export interface ImageSpec {
  /** e.g. "demo/web" (no host). */
  repository: string;
  tag: string;
  /** "os/arch[/variant]". Default ['linux/amd64']. */
  platforms?: string[];
  /** Layers every platform shares (same bytes, same digest). */
  layers: LayerSpec[];
  /** Extra layers for one platform, appended after `layers`. */
  platformLayers?: (platform: string) => LayerSpec[];
  /** Append a layer with `etc/platform` = "<platform>\n" to each platform. Default true. */
  platformFile?: boolean;
  /** 'oci' (default) or 'docker' (schema2 manifest / manifest list media types). */
  format?: ImageFormat;
  /** Default compression of the layers. Default 'gzip'. */
  compression?: Compression;
  /** 'auto' (default): an index / manifest list only when there is more than one platform; 'always': also for one. */
  index?: 'auto' | 'always';
  /** Image config (`config` field of the config JSON). Default: a PATH env only. */
  config?: ImageConfigSpec;
  /** Annotations on each manifest and on the index (OCI format only). */
  annotations?: Record<string, string>;
  /** `created` of the config and history. Default 2024-01-01T00:00:00Z (fixed: determinism). */
  created?: string;
}

// ---------------------------------------------------------------------------
// Built artefacts

export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
}

/** A blob's bytes: in memory (small) or in a file (large; cache or temp dir). */
export interface BlobSource {
  digest: string;
  size: number;
  data?: Buffer;
  file?: string;
}

export interface BuiltLayer extends BlobSource {
  /** sha256 of the uncompressed tar (what config.rootfs.diff_ids holds). */
  diffId: string;
  uncompressedSize: number;
  compression: Compression;
  /** Whether it came from the on-disk cache. */
  cached: boolean;
}

export interface BuiltPlatformImage {
  platform: string;
  os: string;
  architecture: string;
  variant?: string;
  manifest: BlobRef & { data: Buffer };
  config: BlobRef & { data: Buffer };
  layers: (BuiltLayer & { mediaType: string })[];
}

export interface BuiltImage {
  repository: string;
  tag: string;
  format: ImageFormat;
  /** What the tag points at: the index / manifest list, or the single manifest. */
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
  platforms: BuiltPlatformImage[];
  /** Unique layer digests in order of first use. */
  layerDigests: string[];
}

export interface BuildOptions {
  /** On-disk blob cache: a directory, or false to disable. Default: fixtureCacheDir(). */
  cache?: string | false;
}

// ---------------------------------------------------------------------------
// Helpers

const BUILDER_VERSION = 1;
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');
const DEFAULT_CREATED = '2024-01-01T00:00:00Z';
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
/** Layers at least this big (uncompressed estimate) are streamed to a file and cached; smaller ones stay in memory. */
const FILE_THRESHOLD = 1 << 20;
const CHUNK = 1 << 20;
/** Random data is generated in chunks of this size (small enough for malloc reuse, big enough to amortise calls). */
const RANDOM_CHUNK = 256 * 1024;

export function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The on-disk blob cache: $LADING_FIXTURE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/lading/fixture-blobs; undefined when LADING_FIXTURE_CACHE=off. */
export function fixtureCacheDir(): string | undefined {
  const env = process.env.LADING_FIXTURE_CACHE;
  if (env === 'off' || env === '0' || env === 'false') return undefined;
  if (env) return path.resolve(env);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'lading', 'fixture-blobs');
}

export interface ParsedPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(platform: string): ParsedPlatform {
  const parts = platform.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new Error(`bad platform "${platform}": want os/arch or os/arch/variant`);
  }
  const [osName, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os: osName, architecture } : { os: osName, architecture, variant };
}

/**
 * Pseudo-random bytes from a seed: the AES-128-CTR keystream under
 * key = sha256("lading-fixture-random\0" + seed)[0..16], IV 0. Fast (AES-NI),
 * deterministic, and any prefix is a prefix of a longer run.
 */
export class SeededRandom {
  private readonly cipher;
  private zeros: Buffer = Buffer.alloc(0);
  constructor(seed: string) {
    const key = createHash('sha256').update(`lading-fixture-random\0${seed}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }
  next(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(n);
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

/** `size` seeded pseudo-random bytes as a stream of chunks. */
export async function* seededRandomChunks(seed: string, size: number, chunkSize = RANDOM_CHUNK): AsyncGenerator<Buffer> {
  const rng = new SeededRandom(seed);
  for (let left = size; left > 0; ) {
    const n = Math.min(chunkSize, left);
    left -= n;
    yield rng.next(n);
  }
}

function isRandomLayer(layer: LayerSpec): layer is RandomLayerSpec {
  return 'randomBytes' in layer;
}

function normalizePath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad path in layer: "${p}"`);
  return parts.join('/');
}

type TarItem =
  | { kind: 'dir'; name: string; mode: number }
  | { kind: 'file'; name: string; mode: number; data: Buffer }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'random'; name: string; mode: number; seed: string; size: number };

/** Tar entries of a layer in a canonical order (sorted, parents first). */
function tarItems(layer: LayerSpec): TarItem[] {
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

interface ResolvedLayer {
  items: TarItem[];
  compression: Compression;
  gzipLevel: number;
  /** Identity of the bytes: cache and memo key. */
  key: string;
  estimatedSize: number;
}

function resolveLayer(layer: LayerSpec, imageCompression: Compression): ResolvedLayer {
  const items = tarItems(layer);
  const compression = layer.compression ?? imageCompression;
  const gzipLevel = layer.gzipLevel ?? (isRandomLayer(layer) ? 0 : 1);
  if (!Number.isInteger(gzipLevel) || gzipLevel < 0 || gzipLevel > 9) throw new Error(`bad gzipLevel ${gzipLevel}`);
  const identity = {
    v: BUILDER_VERSION,
    zlib: compression === 'gzip' && gzipLevel > 0 ? process.versions.zlib : undefined,
    compression,
    gzipLevel: compression === 'gzip' ? gzipLevel : undefined,
    items: items.map((it) =>
      it.kind === 'file' ? { ...it, data: sha256(it.data) } : it,
    ),
  };
  const estimatedSize = items.reduce((n, it) => n + 512 + (it.kind === 'file' ? it.data.length : it.kind === 'random' ? it.size : 0), 1024);
  return { items, compression, gzipLevel, key: sha256(JSON.stringify(identity)).slice(7), estimatedSize };
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
async function writeTar(items: TarItem[], emit: (chunk: Buffer) => void | Promise<void>): Promise<void> {
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

class StoredGzip {
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

// Temp dir for large uncached blobs, removed when the process exits.
let scratchDir: string | undefined;
function scratch(): string {
  if (!scratchDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lading-fixture-blobs-'));
    scratchDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return scratchDir;
}

interface LayerMeta {
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  compression: Compression;
}

/** Where the encoded layer goes: a file (with backpressure) or memory. Hashes what passes. */
class BlobSink {
  private readonly hash = createHash('sha256');
  size = 0;
  private readonly chunks: Buffer[] = [];
  private readonly file: WriteStream | undefined;
  private failed: Error | undefined;
  constructor(outFile: string | undefined) {
    if (outFile) {
      this.file = createWriteStream(outFile, { highWaterMark: CHUNK });
      this.file.on('error', (err) => (this.failed = err));
    }
  }
  /** Returns false when the caller should wait for drained(). */
  push(chunk: Buffer | Buffer[]): boolean {
    if (this.failed) throw this.failed;
    const pieces = Array.isArray(chunk) ? chunk : [chunk];
    for (const piece of pieces) {
      this.hash.update(piece);
      this.size += piece.length;
    }
    if (!this.file) {
      this.chunks.push(...pieces);
      return true;
    }
    let ok = true;
    this.file.cork();
    for (const piece of pieces) if (piece.length > 0) ok = this.file.write(piece) && ok;
    this.file.uncork();
    return ok;
  }
  async drained(): Promise<void> {
    if (this.file && this.file.writableNeedDrain) await once(this.file, 'drain');
    if (this.failed) throw this.failed;
  }
  async finish(): Promise<{ digest: string; size: number; data?: Buffer }> {
    const digest = `sha256:${this.hash.digest('hex')}`;
    if (!this.file) return { digest, size: this.size, data: Buffer.concat(this.chunks) };
    this.file.end();
    await once(this.file, 'close');
    if (this.failed) throw this.failed;
    return { digest, size: this.size };
  }
}

async function streamLayer(resolved: ResolvedLayer, outFile: string | undefined): Promise<LayerMeta & { data?: Buffer }> {
  const diff = createHash('sha256');
  let usize = 0;
  const sink = new BlobSink(outFile);
  const put = async (chunk: Buffer | Buffer[]) => {
    if (!sink.push(chunk)) await sink.drained();
  };
  let emit: (chunk: Buffer) => Promise<void>;
  let finish: () => Promise<void>;
  if (resolved.compression === 'none') {
    emit = put;
    finish = async () => {};
  } else if (resolved.gzipLevel === 0) {
    const gz = new StoredGzip();
    emit = async (chunk) => put(gz.write(chunk));
    finish = async () => put(gz.end());
  } else {
    const gz = zlib.createGzip({ level: resolved.gzipLevel, chunkSize: 256 * 1024 });
    let error: Error | undefined;
    gz.on('error', (err) => (error = err));
    gz.on('data', (out: Buffer) => {
      if (!sink.push(out)) {
        gz.pause();
        void sink.drained().then(() => gz.resume(), (err: Error) => gz.destroy(err));
      }
    });
    const ended = once(gz, 'end');
    emit = async (chunk) => {
      if (error) throw error;
      if (!gz.write(chunk)) await once(gz, 'drain');
    };
    finish = async () => {
      gz.end();
      await ended;
      if (error) throw error;
      await sink.drained();
    };
  }
  await writeTar(resolved.items, async (chunk) => {
    diff.update(chunk);
    usize += chunk.length;
    await emit(chunk);
  });
  await finish();
  const out = await sink.finish();
  const diffId = `sha256:${diff.digest('hex')}`;
  const meta: LayerMeta & { data?: Buffer } = {
    digest: out.digest,
    size: out.size,
    diffId,
    uncompressedSize: usize,
    compression: resolved.compression,
  };
  if (resolved.compression === 'none' && out.digest !== diffId) throw new Error('internal: uncompressed digest mismatch');
  if (out.data) meta.data = out.data;
  return meta;
}

async function buildLayerUncached(resolved: ResolvedLayer, cacheDir: string | undefined): Promise<BuiltLayer> {
  if (resolved.estimatedSize < FILE_THRESHOLD) {
    const meta = await streamLayer(resolved, undefined);
    return { ...meta, cached: false };
  }
  if (cacheDir) {
    const metaFile = path.join(cacheDir, `${resolved.key}.json`);
    try {
      const meta = JSON.parse(await readFile(metaFile, 'utf8')) as LayerMeta;
      const file = path.join(cacheDir, 'blobs', 'sha256', meta.digest.slice(7));
      if ((await stat(file)).size === meta.size) return { ...meta, file, cached: true };
    } catch {
      /* miss */
    }
    await mkdir(path.join(cacheDir, 'blobs', 'sha256'), { recursive: true });
    const tmp = path.join(cacheDir, `tmp-${process.pid}-${resolved.key.slice(0, 16)}-${Date.now()}`);
    try {
      const meta = await streamLayer(resolved, tmp);
      const file = path.join(cacheDir, 'blobs', 'sha256', meta.digest.slice(7));
      await rename(tmp, file); // atomic; identical content if a concurrent builder got there first
      const metaTmp = `${metaFile}.${process.pid}.tmp`;
      await writeFile(metaTmp, JSON.stringify(meta));
      await rename(metaTmp, metaFile);
      return { ...meta, file, cached: false };
    } finally {
      await rm(tmp, { force: true });
    }
  }
  const file = path.join(scratch(), `${resolved.key}.blob`);
  const meta = await streamLayer(resolved, file);
  return { ...meta, file, cached: false };
}

// In-process memo: a layer shared by several images (or built again) is built once.
const layerMemo = new Map<string, Promise<BuiltLayer>>();

async function buildLayer(resolved: ResolvedLayer, cacheDir: string | undefined): Promise<BuiltLayer> {
  const memoKey = `${cacheDir ?? '-'}\0${resolved.key}`;
  let p = layerMemo.get(memoKey);
  if (!p) {
    p = buildLayerUncached(resolved, cacheDir);
    layerMemo.set(memoKey, p);
    p.catch(() => layerMemo.delete(memoKey));
  } else {
    const built = await p;
    // The cached file may have been removed since (e.g. a test clearing the cache).
    if (built.file && !existsSync(built.file)) {
      layerMemo.delete(memoKey);
      return await buildLayer(resolved, cacheDir);
    }
  }
  return await p;
}

/** Forgets the layers built so far in this process (the on-disk cache stays): the next build reads the cache or rebuilds. */
export function forgetBuiltLayers(): void {
  layerMemo.clear();
}

/** Builds (or fetches from cache) one layer outside any image: handy for benches. */
export async function buildLayerBlob(layer: LayerSpec, options: BuildOptions & { compression?: Compression } = {}): Promise<BuiltLayer> {
  const cacheDir = options.cache === undefined ? fixtureCacheDir() : options.cache || undefined;
  return await buildLayer(resolveLayer(layer, options.compression ?? 'gzip'), cacheDir);
}

function layerMediaType(format: ImageFormat, compression: Compression): string {
  if (format === 'docker') return compression === 'gzip' ? MediaTypes.dockerLayerGzip : MediaTypes.dockerLayer;
  return compression === 'gzip' ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer;
}

function descriptor(b: BlobRef): BlobRef {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** Builds an image's blobs, configs and manifests (no registry involved). Deterministic. */
export async function buildImage(spec: ImageSpec, options: BuildOptions = {}): Promise<BuiltImage> {
  const cacheDir = options.cache === undefined ? fixtureCacheDir() : options.cache || undefined;
  const format = spec.format ?? 'oci';
  const compression = spec.compression ?? 'gzip';
  const platforms = spec.platforms ?? ['linux/amd64'];
  if (platforms.length === 0) throw new Error(`${spec.repository}:${spec.tag}: no platforms`);
  if (new Set(platforms).size !== platforms.length) throw new Error(`${spec.repository}:${spec.tag}: duplicate platforms`);
  const created = spec.created ?? DEFAULT_CREATED;
  const annotations = format === 'oci' && spec.annotations && Object.keys(spec.annotations).length > 0 ? spec.annotations : undefined;

  const builtPlatforms: BuiltPlatformImage[] = [];
  const layerDigests: string[] = [];
  for (const platform of platforms) {
    const parsed = parsePlatform(platform);
    const specs: LayerSpec[] = [...spec.layers, ...(spec.platformLayers?.(platform) ?? [])];
    if (spec.platformFile ?? true) specs.push({ files: { 'etc/platform': `${platform}\n` } });
    if (specs.length === 0) throw new Error(`${spec.repository}:${spec.tag} (${platform}): no layers`);
    const layers: BuiltPlatformImage['layers'] = [];
    for (const l of specs) {
      const built = await buildLayer(resolveLayer(l, compression), cacheDir);
      layers.push({ ...built, mediaType: layerMediaType(format, built.compression) });
      if (!layerDigests.includes(built.digest)) layerDigests.push(built.digest);
    }
    const imageConfig = spec.config ?? { Env: DEFAULT_ENV };
    const configJson = {
      created,
      architecture: parsed.architecture,
      ...(parsed.variant !== undefined ? { variant: parsed.variant } : {}),
      os: parsed.os,
      config: imageConfig,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      // No repository/tag in here: the same content under another name has the same digests.
      history: layers.map((_, i) => ({ created, created_by: `lading fixture layer ${i}` })),
    };
    const configData = Buffer.from(JSON.stringify(configJson));
    const config = {
      mediaType: format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
      digest: sha256(configData),
      size: configData.length,
      data: configData,
    };
    const manifestMediaType = format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
    const manifestJson = {
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: descriptor(config),
      layers: layers.map(descriptor),
      ...(annotations ? { annotations } : {}),
    };
    const manifestData = Buffer.from(JSON.stringify(manifestJson));
    const entry: BuiltPlatformImage = {
      platform,
      os: parsed.os,
      architecture: parsed.architecture,
      manifest: { mediaType: manifestMediaType, digest: sha256(manifestData), size: manifestData.length, data: manifestData },
      config,
      layers,
    };
    if (parsed.variant !== undefined) entry.variant = parsed.variant;
    builtPlatforms.push(entry);
  }

  const useIndex = platforms.length > 1 || spec.index === 'always';
  let top: { mediaType: string; data: Buffer };
  if (useIndex) {
    const mediaType = format === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
    const indexJson = {
      schemaVersion: 2,
      mediaType,
      manifests: builtPlatforms.map((p) => ({
        ...descriptor(p.manifest),
        platform: { architecture: p.architecture, os: p.os, ...(p.variant !== undefined ? { variant: p.variant } : {}) },
      })),
      ...(annotations ? { annotations } : {}),
    };
    top = { mediaType, data: Buffer.from(JSON.stringify(indexJson)) };
  } else {
    const only = builtPlatforms[0]!;
    top = { mediaType: only.manifest.mediaType, data: only.manifest.data };
  }
  return {
    repository: spec.repository,
    tag: spec.tag,
    format,
    mediaType: top.mediaType,
    digest: sha256(top.data),
    size: top.data.length,
    data: top.data,
    platforms: builtPlatforms,
    layerDigests,
  };
}

// ---------------------------------------------------------------------------
// Pushing

/** Where to push. A TestRegistry from ./registry.ts fits. */
export interface RegistryTarget {
  /** "http://127.0.0.1:5000" or "https://…" (no trailing slash needed). */
  url: string;
  /** Host used in refs. Default: the URL's host. */
  host?: string;
  username?: string;
  password?: string;
  /** PEM file of a CA to trust (https). */
  caFile?: string;
  /** A dispatcher to use instead of building one from caFile. */
  dispatcher?: Dispatcher;
}

export type BlobAction = 'uploaded' | 'skipped' | 'mounted';

export interface PushOptions extends BuildOptions {
  /** Blobs uploaded at once. Default 2. */
  concurrency?: number;
  onBlob?: (event: { repository: string; digest: string; size: number; action: BlobAction }) => void;
}

export interface PushedPlatform {
  platform: string;
  digest: string;
  mediaType: string;
  configDigest: string;
  layers: string[];
}

export interface PushedImage {
  /** "HOST/REPOSITORY:TAG" */
  ref: string;
  /** "HOST/REPOSITORY@DIGEST" */
  digestRef: string;
  repository: string;
  tag: string;
  /** Digest of what the tag points at. */
  digest: string;
  mediaType: string;
  size: number;
  platforms: PushedPlatform[];
  /** Unique layer digests of the image. */
  layerDigests: string[];
  stats: { uploaded: number; skipped: number; mounted: number; bytesUploaded: number };
  built: BuiltImage;
}

function targetBase(target: RegistryTarget): string {
  return target.url.replace(/\/+$/, '');
}

function targetHost(target: RegistryTarget): string {
  return target.host ?? new URL(target.url).host;
}

const dispatchers = new Map<string, Agent>();
function dispatcherFor(target: RegistryTarget): Dispatcher | undefined {
  if (target.dispatcher) return target.dispatcher;
  if (!target.caFile) return undefined;
  let d = dispatchers.get(target.caFile);
  if (!d) {
    d = new Agent({ connect: { ca: readFileSync(target.caFile, 'utf8') } });
    dispatchers.set(target.caFile, d);
  }
  return d;
}


class RegistryClient {
  private readonly base: string;
  private readonly auth: string | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  constructor(target: RegistryTarget) {
    this.base = targetBase(target);
    this.auth =
      target.username !== undefined
        ? `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`
        : undefined;
    this.dispatcher = dispatcherFor(target);
  }

  async request(
    method: string,
    urlOrPath: string,
    init: { headers?: Record<string, string>; body?: Buffer | AsyncIterable<Uint8Array> } = {},
  ): Promise<Response> {
    const url = urlOrPath.startsWith('/') ? `${this.base}${urlOrPath}` : urlOrPath;
    const headers: Record<string, string> = { ...init.headers };
    if (this.auth) headers.authorization = this.auth;
    const streaming = init.body !== undefined && !Buffer.isBuffer(init.body);
    return await fetch(url, {
      method,
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      ...(streaming ? { duplex: 'half' as const } : {}),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
  }

  resolve(location: string): string {
    return new URL(location, `${this.base}/`).toString();
  }
}

async function failure(res: Response, what: string): Promise<Error> {
  let body = '';
  try {
    body = (await res.text()).slice(0, 500);
  } catch {
    /* ignore */
  }
  return new Error(`${what}: HTTP ${res.status}${body ? ` ${body.trim()}` : ''}`);
}

// digest -> repositories known to hold it, per registry base URL (for cross-repo mounts).
const knownBlobs = new Map<string, Map<string, string>>();

async function pushBlob(
  client: RegistryClient,
  base: string,
  repository: string,
  blob: BlobSource,
): Promise<BlobAction> {
  const head = await client.request('HEAD', `/v2/${repository}/blobs/${blob.digest}`);
  await head.body?.cancel();
  if (head.status === 200) return 'skipped';
  if (head.status !== 404) throw await failure(head, `HEAD blob ${blob.digest} in ${repository}`);

  const known = knownBlobs.get(base) ?? new Map<string, string>();
  knownBlobs.set(base, known);
  const from = known.get(blob.digest);
  const q = from && from !== repository ? `?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}` : '';
  const start = await client.request('POST', `/v2/${repository}/blobs/uploads/${q}`, { headers: { 'content-length': '0' } });
  await start.body?.cancel();
  if (start.status === 201 && q) {
    known.set(blob.digest, repository);
    return 'mounted';
  }
  if (start.status !== 202) throw await failure(start, `start upload of ${blob.digest} to ${repository}`);
  const location = start.headers.get('location');
  if (!location) throw new Error(`start upload of ${blob.digest} to ${repository}: no Location header`);
  const putUrl = new URL(client.resolve(location));
  putUrl.searchParams.set('digest', blob.digest);
  const body: Buffer | AsyncIterable<Uint8Array> = blob.data ?? createReadStream(blob.file!, { highWaterMark: CHUNK });
  const put = await client.request('PUT', putUrl.toString(), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw await failure(put, `upload of ${blob.digest} to ${repository}`);
  const got = put.headers.get('docker-content-digest');
  if (got && got !== blob.digest) throw new Error(`upload of ${blob.digest} to ${repository}: registry computed ${got}`);
  known.set(blob.digest, repository);
  return 'uploaded';
}

async function putManifest(client: RegistryClient, repository: string, reference: string, mediaType: string, data: Buffer, digest: string): Promise<void> {
  const res = await client.request('PUT', `/v2/${repository}/manifests/${reference}`, {
    headers: { 'content-type': mediaType },
    body: data,
  });
  await res.body?.cancel();
  if (res.status !== 201) throw await failure(res, `PUT manifest ${repository}:${reference}`);
  const got = res.headers.get('docker-content-digest');
  if (got && got !== digest) throw new Error(`PUT manifest ${repository}:${reference}: registry computed ${got}, expected ${digest}`);
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/** Builds (unless given a BuiltImage) and pushes an image: blobs, platform manifests by digest, then the tag. */
export async function pushImage(target: RegistryTarget, image: ImageSpec | BuiltImage, options: PushOptions = {}): Promise<PushedImage> {
  const built = 'digest' in image ? image : await buildImage(image, options);
  const client = new RegistryClient(target);
  const base = targetBase(target);
  const repository = built.repository;
  const stats = { uploaded: 0, skipped: 0, mounted: 0, bytesUploaded: 0 };

  const blobs = new Map<string, BlobSource>();
  for (const p of built.platforms) {
    for (const l of p.layers) blobs.set(l.digest, l);
    blobs.set(p.config.digest, p.config);
  }
  await mapLimit([...blobs.values()], options.concurrency ?? 2, async (blob) => {
    const action = await pushBlob(client, base, repository, blob);
    stats[action]++;
    if (action === 'uploaded') stats.bytesUploaded += blob.size;
    options.onBlob?.({ repository, digest: blob.digest, size: blob.size, action });
  });

  const isIndex = built.mediaType === MediaTypes.ociIndex || built.mediaType === MediaTypes.dockerManifestList;
  if (isIndex) {
    for (const p of built.platforms) {
      await putManifest(client, repository, p.manifest.digest, p.manifest.mediaType, p.manifest.data, p.manifest.digest);
    }
  }
  await putManifest(client, repository, built.digest, built.mediaType, built.data, built.digest);
  await putManifest(client, repository, built.tag, built.mediaType, built.data, built.digest);

  const host = targetHost(target);
  return {
    ref: `${host}/${repository}:${built.tag}`,
    digestRef: `${host}/${repository}@${built.digest}`,
    repository,
    tag: built.tag,
    digest: built.digest,
    mediaType: built.mediaType,
    size: built.size,
    platforms: built.platforms.map((p) => ({
      platform: p.platform,
      digest: p.manifest.digest,
      mediaType: p.manifest.mediaType,
      configDigest: p.config.digest,
      layers: p.layers.map((l) => l.digest),
    })),
    layerDigests: built.layerDigests,
    stats,
    built,
  };
}

/** Pushes several images in order (shared layers are uploaded once per repository). */
export async function pushImages(target: RegistryTarget, images: (ImageSpec | BuiltImage)[], options: PushOptions = {}): Promise<PushedImage[]> {
  const out: PushedImage[] = [];
  for (const image of images) out.push(await pushImage(target, image, options));
  return out;
}

// ---------------------------------------------------------------------------
// Local OCI layout (no registry): handy as a reference bundle in tests.

/**
 * Writes images into an OCI image layout directory (oci-layout, index.json,
 * blobs/sha256/…), each top-level entry annotated with
 * org.opencontainers.image.ref.name = the tag (or `refName(image)`).
 */
export async function writeOciLayout(
  dir: string,
  images: BuiltImage[],
  refName: (image: BuiltImage) => string = (image) => image.tag,
): Promise<void> {
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const put = async (digest: string, source: { data?: Buffer; file?: string }) => {
    const dest = path.join(blobsDir, digest.slice(7));
    if (existsSync(dest)) return;
    if (source.data) await writeFile(dest, source.data);
    else await pipeline(createReadStream(source.file!), createWriteStream(dest));
  };
  for (const image of images) {
    for (const p of image.platforms) {
      for (const l of p.layers) await put(l.digest, l);
      await put(p.config.digest, p.config);
      await put(p.manifest.digest, p.manifest);
    }
    await put(image.digest, image);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.size,
      annotations: { 'org.opencontainers.image.ref.name': refName(image) },
    })),
  };
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}
