/**
 * The pull side of the OCI distribution API over a catalog: /v2/, manifests
 * and blobs by name and reference (GET and HEAD, ranges for blobs), tags and
 * the catalog; anything that writes is refused with 405 UNSUPPORTED.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { isSha256Digest } from '../oci/reference.js';
import { ensureVerified, readVerified, verifiedStream, type BlobEvents } from './blobs.js';
import type { Catalog, Repository, Stored } from './catalog.js';
import { parseRange } from './range.js';
import { referrersOf } from './referrers.js';

export type ErrorCode = 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'NAME_UNKNOWN' | 'NAME_INVALID' | 'DIGEST_INVALID' | 'UNSUPPORTED' | 'UNKNOWN';

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };
const TAG = /^[\w][\w.-]{0,127}$/;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, detail?: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] }));
  res.writeHead(status, { ...API_VERSION, 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(200, { ...API_VERSION, 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** `?n=&last=` pagination over sorted names, with the Link header for the next page. */
function page(names: string[], url: URL): { items: string[]; link?: string } {
  const last = url.searchParams.get('last');
  const n = url.searchParams.get('n');
  let items = last === null ? names : names.filter((name) => name > last);
  const limit = n === null || n === '' ? undefined : Number(n);
  if (limit === undefined || !Number.isInteger(limit) || limit < 0 || items.length <= limit) return { items };
  items = items.slice(0, limit);
  const next = new URL(url.pathname, 'http://x');
  next.searchParams.set('n', String(limit));
  if (items.length > 0) next.searchParams.set('last', items.at(-1)!);
  return { items, link: `<${next.pathname}${next.search}>; rel="next"` };
}

export interface Route {
  kind: 'base' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'referrers' | 'other';
  name?: string;
  reference?: string;
}

/** Splits a /v2/ path; the name is everything before the last /manifests/, /blobs/ or /tags/list. */
export function parseRoute(pathname: string): Route {
  if (pathname === '/v2' || pathname === '/v2/') return { kind: 'base' };
  if (pathname === '/v2/_catalog') return { kind: 'catalog' };
  const tags = /^\/v2\/(.+)\/tags\/list$/.exec(pathname);
  if (tags) return { kind: 'tags', name: tags[1]! };
  const object = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(pathname);
  if (object) {
    const kind = object[2] === 'manifests' ? 'manifest' : object[2] === 'blobs' ? 'blob' : 'referrers';
    return { kind, name: object[1]!, reference: object[3]! };
  }
  return { kind: 'other' };
}

export class RegistryHandler {
  constructor(
    readonly catalog: Catalog,
    readonly events: BlobEvents,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://registry');
    let route: Route;
    try {
      route = parseRoute(decodeURIComponent(url.pathname));
    } catch {
      return sendError(res, 400, 'NAME_INVALID', 'the path is not valid percent-encoding');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(res, 405, 'UNSUPPORTED', 'lading serve is read-only: it serves pulls only', undefined, { Allow: 'GET, HEAD' });
    }
    switch (route.kind) {
      case 'base':
        return sendJson(res, {});
      case 'catalog': {
        const { items, link } = page([...this.catalog.repositories.keys()].sort(), url);
        return sendJson(res, { repositories: items }, link ? { Link: link } : {});
      }
      case 'other':
        return sendError(res, 404, 'NAME_UNKNOWN', `no such endpoint: ${url.pathname}`);
    }
    const repo = this.catalog.repositories.get(route.name!);
    if (route.kind === 'referrers') return this.#referrers(res, repo, route.reference!, url);
    if (!repo) return sendError(res, 404, 'NAME_UNKNOWN', 'repository name not known to registry', { name: route.name });
    if (route.kind === 'tags') {
      const { items, link } = page([...repo.tags.keys()].sort(), url);
      return sendJson(res, { name: repo.name, tags: items }, link ? { Link: link } : {});
    }
    if (route.kind === 'manifest') return this.#manifest(req, res, repo, route.reference!);
    return this.#blob(req, res, repo, route.reference!);
  }

  /** Never 404 for a valid digest (the spec's rule for registries with the API): an empty index instead. */
  async #referrers(res: ServerResponse, repo: Repository | undefined, digest: string, url: URL): Promise<void> {
    if (!isSha256Digest(digest)) return sendError(res, 400, 'DIGEST_INVALID', 'not a sha256 digest', { digest });
    const artifactType = url.searchParams.get('artifactType') ?? undefined;
    const manifests = await referrersOf(this.catalog, repo, digest, this.events, artifactType);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    res.writeHead(200, {
      ...API_VERSION,
      'Content-Type': OCI_INDEX,
      'Content-Length': body.length,
      ...(artifactType === undefined ? {} : { 'OCI-Filters-Applied': 'artifactType' }),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  #stored(repo: Repository, digest: string): Stored | undefined {
    return repo.digests.has(digest) ? this.catalog.blobs.get(digest) : undefined;
  }

  async #manifest(req: IncomingMessage, res: ServerResponse, repo: Repository, reference: string): Promise<void> {
    let digest: string | undefined;
    if (reference.includes(':')) {
      if (!isSha256Digest(reference)) return sendError(res, 400, 'DIGEST_INVALID', 'not a sha256 digest', { digest: reference });
      digest = reference;
    } else if (TAG.test(reference)) digest = repo.tags.get(reference);
    const blob = digest === undefined ? undefined : this.#stored(repo, digest);
    if (!blob?.manifestType) return sendError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown', { name: repo.name, reference });
    const bytes = await readVerified(blob, this.events);
    if (!bytes) return damaged(res, 'MANIFEST_UNKNOWN', blob);
    res.writeHead(200, {
      ...API_VERSION,
      'Content-Type': blob.manifestType,
      'Content-Length': bytes.length,
      'Docker-Content-Digest': blob.digest,
      ETag: `"${blob.digest}"`,
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  async #blob(req: IncomingMessage, res: ServerResponse, repo: Repository, digest: string): Promise<void> {
    if (!isSha256Digest(digest)) return sendError(res, 400, 'DIGEST_INVALID', 'not a sha256 digest', { digest });
    const blob = this.#stored(repo, digest);
    if (!blob) return sendError(res, 404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    if (blob.state === 'bad') return damaged(res, 'BLOB_UNKNOWN', blob);
    const headers = { ...API_VERSION, 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': blob.digest, 'Accept-Ranges': 'bytes', ETag: `"${blob.digest}"` };
    const range = parseRange(req.method === 'GET' ? req.headers.range : undefined, blob.size);
    if (range.kind === 'unsatisfiable') {
      return sendError(res, 416, 'BLOB_UNKNOWN', 'requested range not satisfiable', { size: blob.size }, { 'Content-Range': `bytes */${blob.size}` });
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'Content-Length': blob.size });
      return void res.end();
    }
    if (range.kind === 'whole') {
      res.writeHead(200, { ...headers, 'Content-Length': blob.size });
      return this.#send(res, verifiedStream(blob, this.events));
    }
    if (!(await ensureVerified(blob, this.events))) return damaged(res, 'BLOB_UNKNOWN', blob);
    res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}` });
    const { offset } = blob.entry;
    return this.#send(res, blob.reader.openEntry({ name: blob.entry.name, offset: offset + range.start, size: range.end - range.start + 1 }));
  }

  /** Streams a body; on any failure the connection is cut, so the client never takes a short or wrong body as whole. */
  async #send(res: ServerResponse, body: NodeJS.ReadableStream): Promise<void> {
    try {
      await pipeline(body, res);
    } catch {
      // pipeline destroyed the response, and with it the connection; a damaged blob was marked bad.
      res.socket?.destroy();
    }
  }
}

/** A blob or manifest whose bytes in the bundle do not match its digest: never served. */
function damaged(res: ServerResponse, code: ErrorCode, blob: Stored): void {
  if (res.headersSent) {
    res.socket?.destroy();
    return;
  }
  sendError(res, 500, code, 'the bundle holds damaged bytes for this digest: it is not served', { digest: blob.digest });
}
