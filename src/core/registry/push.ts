/**
 * The push side of the distribution API, for registry mode: blobs are checked
 * with HEAD first and skipped when present (a second push sends nothing),
 * uploaded in chunks whose progress the registry confirms, and after a
 * dropped connection continued from the offset the registry reports (or
 * started again when the registry dropped the upload); the registry's
 * Docker-Content-Digest answer must be the digest lading sent. Bodies are
 * streamed from the bundle with bounded memory.
 */
import { Readable } from 'node:stream';
import { ExitCode, RegistryError } from '../errors.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import { isTransientNetworkError, sleep } from '../oci/retry.js';
import { printable } from '../util/printable.js';
import { header, type PushResponse, type PushTransport } from './transport.js';

export interface BlobToPush {
  digest: string;
  size: number;
}

export interface PushOptions {
  /** Bytes per PATCH: what a dropped connection can cost at most. */
  chunkBytes?: number;
  /** Dropped connections tolerated per blob. */
  attempts?: number;
  signal?: AbortSignal;
}

export type BlobOutcome = 'present' | 'uploaded';

const DEFAULT_CHUNK = 32 << 20;

async function drain(res: PushResponse): Promise<string> {
  let text = '';
  for await (const chunk of res.body as AsyncIterable<Buffer>) if (text.length < 2000) text += chunk.toString('utf8');
  return printable(text.replace(/\s+/g, ' ').trim().slice(0, 300));
}

/** The last byte the registry says it holds (`Range: 0-N`), or -1. */
function confirmedEnd(res: PushResponse): number {
  const match = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
  return match ? Number(match[1]) : -1;
}

export class RegistryPusher {
  /** Dropped uploads continued where the registry said it stood, and those it had dropped and were started again. */
  readonly stats = { resumed: 0, restarted: 0 };
  readonly #chunk: number;
  readonly #attempts: number;

  constructor(
    readonly transport: PushTransport,
    readonly options: PushOptions = {},
  ) {
    this.#chunk = options.chunkBytes ?? DEFAULT_CHUNK;
    this.#attempts = options.attempts ?? 5;
  }

  #fail(res: PushResponse, what: string, detail: string): Promise<never> {
    return drain(res).then((body) => {
      throw new RegistryError(`${this.transport.name}: ${what}: the registry answered ${res.status}${detail}${body ? `: ${body}` : ''}`, {
        status: res.status,
        retryable: res.status >= 500 || res.status === 429,
      });
    });
  }

  async hasBlob(repository: string, blob: BlobToPush): Promise<boolean> {
    const res = await this.transport.send({ method: 'HEAD', path: `/v2/${repository}/blobs/${blob.digest}`, ...this.#signal() });
    await drain(res);
    if (res.status === 404) return false;
    if (res.status !== 200) return this.#fail(res, `HEAD blob ${blob.digest}`, '');
    return Number(header(res, 'content-length')) === blob.size;
  }

  /** Does `reference` (a tag or a digest) already name exactly this manifest? */
  async hasManifest(repository: string, reference: string, digest: string): Promise<boolean> {
    const res = await this.transport.send({ method: 'HEAD', path: `/v2/${repository}/manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT }, ...this.#signal() });
    await drain(res);
    return res.status === 200 && header(res, 'docker-content-digest') === digest;
  }

  /**
   * Makes sure the registry holds the blob. `open(start)` streams its bytes
   * from `start` to the end; `onBytes` is told of bytes the registry
   * confirmed, each once, so progress never goes backwards.
   */
  async pushBlob(repository: string, blob: BlobToPush, open: (start: number) => Readable, onBytes: (bytes: number) => void = () => undefined): Promise<BlobOutcome> {
    if (await this.hasBlob(repository, blob)) return 'present';
    let location = await this.#startUpload(repository, blob);
    let offset = 0;
    let counted = 0;
    const confirm = (end: number) => {
      offset = end + 1;
      if (offset > counted) onBytes(offset - counted), (counted = offset);
    };
    for (let dropped = 0; offset < blob.size; ) {
      const end = Math.min(blob.size, offset + this.#chunk) - 1;
      try {
        const res = await this.transport.send({
          method: 'PATCH',
          path: location,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(end - offset + 1) },
          body: limit(open(offset), end - offset + 1),
          ...this.#signal(),
        });
        if (res.status !== 202) await this.#fail(res, `upload of ${blob.digest} at byte ${offset}`, '');
        await drain(res);
        location = this.#locate(res, location);
        const reported = confirmedEnd(res);
        confirm(reported >= offset ? reported : end);
      } catch (error) {
        if (this.options.signal?.aborted || !(isTransientNetworkError(error) || (error instanceof RegistryError && error.retryable))) throw error;
        if (++dropped > this.#attempts) throw new RegistryError(`${this.transport.name}: upload of ${blob.digest} broke off ${dropped} times`, { cause: error });
        await sleep(200 * dropped, this.options.signal);
        ({ location, offset } = await this.#resume(repository, blob, location));
      }
    }
    await this.#finish(repository, blob, location);
    return 'uploaded';
  }

  /** After a dropped PATCH: where the registry says the upload stands, or a new upload when it dropped it. */
  async #resume(repository: string, blob: BlobToPush, location: string): Promise<{ location: string; offset: number }> {
    const res = await this.transport.send({ method: 'GET', path: location, ...this.#signal() });
    await drain(res);
    if (res.status === 204) {
      this.stats.resumed++;
      return { location: this.#locate(res, location), offset: confirmedEnd(res) + 1 };
    }
    // distribution cancels an upload whose data on disk does not match its signed state: start over.
    this.stats.restarted++;
    return { location: await this.#startUpload(repository, blob), offset: 0 };
  }

  async #startUpload(repository: string, blob: BlobToPush): Promise<string> {
    const res = await this.transport.send({ method: 'POST', path: `/v2/${repository}/blobs/uploads/`, headers: { 'content-length': '0' }, ...this.#signal() });
    if (res.status !== 202) return this.#fail(res, `starting the upload of ${blob.digest}`, '');
    await drain(res);
    return this.#locate(res, undefined);
  }

  async #finish(repository: string, blob: BlobToPush, location: string): Promise<void> {
    const separator = location.includes('?') ? '&' : '?';
    const res = await this.transport.send({ method: 'PUT', path: `${location}${separator}digest=${encodeURIComponent(blob.digest)}`, headers: { 'content-length': '0' }, ...this.#signal() });
    if (res.status !== 201) return this.#fail(res, `closing the upload of ${blob.digest} in ${repository}`, '');
    await drain(res);
    const stored = header(res, 'docker-content-digest');
    if (stored !== undefined && stored !== blob.digest) {
      throw new RegistryError(`${this.transport.name}: stored ${printable(stored)} for blob ${blob.digest}`, { exitCode: ExitCode.integrity });
    }
  }

  /** Puts a manifest or index, byte for byte, under a tag or its digest; the registry must name the same digest. */
  async pushManifest(repository: string, reference: string, bytes: Buffer, mediaType: string, digest: string): Promise<void> {
    const res = await this.transport.send({
      method: 'PUT',
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      ...this.#signal(),
    });
    if (res.status !== 201) return this.#fail(res, `putting manifest ${digest} as ${repository}:${reference}`, '');
    await drain(res);
    const stored = header(res, 'docker-content-digest');
    if (stored !== undefined && stored !== digest) {
      throw new RegistryError(`${this.transport.name}: stored ${printable(stored)} for manifest ${digest}`, { exitCode: ExitCode.integrity });
    }
  }

  #locate(res: PushResponse, previous: string | undefined): string {
    const location = header(res, 'location');
    if (!location) {
      if (previous) return previous;
      throw new RegistryError(`${this.transport.name}: the registry started an upload without a Location`);
    }
    return this.transport.locate(location);
  }

  #signal(): { signal?: AbortSignal } {
    return this.options.signal ? { signal: this.options.signal } : {};
  }
}

/** The first `bytes` of a stream (the rest is not read). */
async function* take(source: Readable, bytes: number): AsyncGenerator<Buffer> {
  let left = bytes;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (chunk.length >= left) {
        yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
    if (left > 0) throw new Error(`the source ended ${left} bytes early`);
  } finally {
    source.destroy();
  }
}

function limit(source: Readable, bytes: number): Readable {
  return Readable.from(take(source, bytes), { objectMode: false });
}
