// Small helpers shared by the image builder's modules: constants, digests,
// the fixture cache location, platform strings, seeded random data.

import { createCipheriv, createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

// ---------------------------------------------------------------------------
// Helpers

export const BUILDER_VERSION = 1;
export const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');
export const DEFAULT_CREATED = '2024-01-01T00:00:00Z';
export const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
/** Layers at least this big (uncompressed estimate) are streamed to a file and cached; smaller ones stay in memory. */
export const FILE_THRESHOLD = 1 << 20;
export const CHUNK = 1 << 20;
/** Random data is generated in chunks of this size (small enough for malloc reuse, big enough to amortise calls). */
export const RANDOM_CHUNK = 256 * 1024;

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
