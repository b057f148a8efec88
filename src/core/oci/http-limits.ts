/**
 * Limits on what a registry may make lading read or wait for. Every body is
 * read chunk by chunk and the request is aborted (body destroyed) as soon as
 * it passes its limit: a registry that streams forever costs at most the
 * limit, never memory that grows with its patience.
 */
import { Transform, pipeline, type Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';

export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_ERROR_BODY_BYTES = 64 << 10;
export const MAX_TOKEN_BODY_BYTES = 1 << 20;
const ERROR_JSON_LIMITS = { maxBytes: MAX_ERROR_BODY_BYTES, maxValues: 10_000, maxDepth: 16 };

/** The body of a blob must arrive within this grace plus its size at the minimum rate. */
export interface BlobDeadline {
  graceMs: number;
  minBytesPerSecond: number;
}

/** Headers have their own timeout (undici's headersTimeout); the grace covers a slow start of the body. */
export const DEFAULT_BLOB_DEADLINE: BlobDeadline = { graceMs: 10_000, minBytesPerSecond: 64 << 10 };

export function blobDeadlineMs(size: number, deadline: BlobDeadline = DEFAULT_BLOB_DEADLINE): number {
  return deadline.graceMs + Math.ceil((size / deadline.minBytesPerSecond) * 1000);
}

/** Declared Content-Length, or undefined when absent or not a plain number. */
export function declaredLength(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/**
 * Reads a whole body of at most `maxBytes`; refuses a larger Content-Length
 * before reading and stops reading the moment the limit is passed.
 */
export async function readBounded(
  body: Readable,
  contentLength: string | string[] | undefined,
  maxBytes: number,
  tooLarge: (bytes: number | undefined) => Error,
): Promise<Buffer> {
  const declared = declaredLength(contentLength);
  if (declared !== undefined && declared > maxBytes) {
    body.destroy();
    throw tooLarge(declared);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      body.destroy();
      throw tooLarge(undefined);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** The first `maxBytes` of a body (an error message is still useful cut short); the rest is never read. */
export async function readPrefix(body: Readable, maxBytes: number = MAX_ERROR_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      const room = maxBytes - total;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      total += Math.min(chunk.length, room);
      if (total >= maxBytes) break;
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, total);
}

/** Codes and text of an error answer, from its first 64 KiB only, printable. */
export async function readErrorDetail(body: Readable): Promise<{ codes: string[]; text: string }> {
  let bytes: Buffer;
  try {
    bytes = await readPrefix(body);
  } catch {
    return { codes: [], text: '' };
  }
  try {
    const parsed = parseBoundedJson(bytes, ERROR_JSON_LIMITS) as { errors?: unknown } | null;
    const errors = Array.isArray(parsed?.errors) ? (parsed.errors as Array<{ code?: unknown; message?: unknown }>) : [];
    const field = (v: unknown): string => (typeof v === 'string' ? printable(v.slice(0, 200)) : '');
    return {
      codes: errors.map((e) => field(e?.code)).filter(Boolean),
      text: errors.map((e) => [field(e?.code), field(e?.message)].filter(Boolean).join(' ')).join('; ').slice(0, 300),
    };
  } catch {
    return { codes: [], text: printable(bytes.subarray(0, 2000).toString('utf8').replace(/\s+/g, ' ').trim()).slice(0, 200) };
  }
}

/**
 * Passes a blob body through, failing it when it has not ended `ms` after it
 * started: undici's per-chunk timeout alone lets a body trickle forever.
 */
export function withDeadline(body: Readable, ms: number, expired: (received: number, elapsedMs: number) => Error): Readable {
  const started = performance.now();
  let received = 0;
  const guarded = new Transform({
    highWaterMark: 256 << 10,
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      callback(null, chunk);
    },
  });
  const timer = setTimeout(() => guarded.destroy(expired(received, performance.now() - started)), ms);
  timer.unref();
  guarded.once('close', () => clearTimeout(timer));
  // Destroying either side destroys the other; the error reaches whoever reads `guarded`.
  pipeline(body, guarded, () => undefined);
  return guarded;
}

export function deadlineError(subject: string, size: number, received: number, elapsedMs: number, deadline: BlobDeadline): RegistryError {
  const kib = Math.round(deadline.minBytesPerSecond / 1024);
  return new RegistryError(
    `${subject}: cut off after ${(elapsedMs / 1000).toFixed(1)} s with ${received} of ${size} bytes, slower than the minimum ${kib} KiB/s`,
    { hint: 'The registry (or a proxy in between) is too slow or stalls; try again later or use another mirror.' },
  );
}
