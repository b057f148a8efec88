// Layers: spec resolution, streaming (tar -> hash -> gzip -> hash -> file or
// memory), the on-disk fixture cache and the in-process memo.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { BUILDER_VERSION, CHUNK, FILE_THRESHOLD, fixtureCacheDir, sha256 } from './helpers.js';
import { isRandomLayer, StoredGzip, tarItems, writeTar, type TarItem } from './tar.js';
import type { BuildOptions, BuiltLayer, Compression, LayerSpec } from './types.js';

export interface ResolvedLayer {
  items: TarItem[];
  compression: Compression;
  gzipLevel: number;
  /** Identity of the bytes: cache and memo key. */
  key: string;
  estimatedSize: number;
}

export function resolveLayer(layer: LayerSpec, imageCompression: Compression): ResolvedLayer {
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

export async function buildLayer(resolved: ResolvedLayer, cacheDir: string | undefined): Promise<BuiltLayer> {
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
