// Pushing built images over the OCI distribution API.

import { createReadStream, readFileSync } from 'node:fs';
import { Agent, fetch, type Dispatcher, type Response } from 'undici';

import { buildImage } from './build.js';
import { CHUNK } from './helpers.js';
import { MediaTypes, type BlobSource, type BuildOptions, type BuiltImage, type ImageSpec } from './types.js';

// ---------------------------------------------------------------------------
// Pushing

/** Where to push. A TestRegistry from ../registry.ts fits. */
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
