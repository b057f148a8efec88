/**
 * How lading reaches a registry it pushes to: straight to its URL, or (in
 * registry mode) through the API server's proxy subresource, so no port is
 * opened from the operator's machine to a node. The pusher speaks the
 * distribution API in paths (`/v2/...`); a transport adds its base, and turns
 * the registry's Location headers back into such paths.
 */
import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { RegistryError } from '../errors.js';
import { printable } from '../util/printable.js';

export interface PushResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface PushRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT';
  /** `/v2/...` with its query. */
  path: string;
  headers?: Record<string, string>;
  body?: Readable | Buffer;
  signal?: AbortSignal;
}

export interface PushTransport {
  /** What to call the registry in messages. */
  readonly name: string;
  send(req: PushRequest): Promise<PushResponse>;
  /** A Location header as a `/v2/...` path this transport can send to. */
  locate(location: string): string;
}

export function header(res: PushResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A registry at a URL (tests, and a registry the operator's machine can reach). */
export class DirectTransport implements PushTransport {
  readonly #base: URL;

  constructor(
    base: string,
    readonly dispatcher?: Dispatcher,
  ) {
    this.#base = new URL(base);
  }

  get name(): string {
    return this.#base.host;
  }

  async send(req: PushRequest): Promise<PushResponse> {
    const res = await request(new URL(req.path, this.#base), {
      method: req.method,
      headers: req.headers ?? {},
      body: req.body ?? null,
      signal: req.signal ?? null,
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  locate(location: string): string {
    const url = new URL(location, this.#base);
    if (url.origin !== this.#base.origin || !url.pathname.startsWith('/v2/')) {
      throw new RegistryError(`${this.name}: the registry sent an upload location elsewhere (${printable(location.slice(0, 200))})`);
    }
    return `${url.pathname}${url.search}`;
  }
}
