/**
 * A registry that lies: node:http (and https) listeners on loopback that share
 * one programmable handler, so each test decides what every answer is
 * (endless bodies, bad descriptors, trickling blobs, redirects). Every request
 * is recorded with the Authorization header the server SAW. Every loop is
 * bounded (a byte cap, a tick cap) and stops when the client goes away;
 * close() ends timers, connections and listeners.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface SeenRequest {
  listener: string;
  /** The Host header: tells localhost:P from 127.0.0.1:P. */
  host: string;
  method: string;
  path: string;
  authorization: string | undefined;
}

/** What a request asks for, parsed from its path. */
export type Target =
  | { kind: 'base' }
  | { kind: 'manifest'; repository: string; reference: string }
  | { kind: 'blob'; repository: string; digest: string }
  | { kind: 'other' };

export type Handler = (req: IncomingMessage, res: ServerResponse, target: Target, listener: string) => void;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** Never more than this from one endless answer, even if the client keeps reading. */
const ENDLESS_CAP = 1 << 30;
const TICK_CAP = 10_000;

export class HostileRegistry {
  readonly seen: SeenRequest[] = [];
  readonly #servers: Array<Server | TcpServer> = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sockets = new Set<Socket>();
  #handler: Handler = (_req, res) => sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no handler' }] });

  /** Sets what every listener answers from now on. */
  handle(handler: Handler): void {
    this.#handler = handler;
  }

  /** Starts a listener on 127.0.0.1 and returns its port. */
  async listen(name: string, tls?: TlsFiles): Promise<number> {
    const server = this.#server(name, tls);
    return this.#bind(server);
  }

  /**
   * One port that speaks both TLS and plain HTTP (by the first byte), so a
   * redirect can go from https://h:P to http://h:P: same host and port, other
   * origin. Requests are recorded as NAME:https and NAME:http.
   */
  async listenDual(name: string, tls: TlsFiles): Promise<number> {
    const secure = this.#server(`${name}:https`, tls);
    const plain = this.#server(`${name}:http`);
    // As httpolyglot does: peek at one byte, put it back, hand the socket to the server that speaks it.
    const route = (socket: Socket): void => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.once('readable', () => route(socket));
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
    };
    const front = createTcpServer({ pauseOnConnect: true }, (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      route(socket);
    });
    return this.#bind(front);
  }

  #server(name: string, tls?: TlsFiles): Server {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      this.seen.push({ listener: name, host: req.headers.host ?? '', method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
      req.resume();
      this.#handler(req, res, parseTarget(req.url ?? ''), name);
    };
    const server: Server = tls
      ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, onRequest)
      : createHttpServer(onRequest);
    server.on('connection', (socket) => socket.on('error', () => undefined));
    server.on('clientError', (_error, socket) => socket.destroy());
    this.#servers.push(server);
    return server;
  }

  async #bind(server: Server | TcpServer): Promise<number> {
    if (!this.#servers.includes(server)) this.#servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  /** Requests that reached one listener (optionally only those for one Host header). */
  seenBy(listener: string, host?: string): SeenRequest[] {
    return this.seen.filter((r) => r.listener === listener && (host === undefined || r.host === host));
  }

  /** Writes `body` one byte per `intervalMs`, as a slow-loris registry would. */
  trickle(res: ServerResponse, body: Buffer, intervalMs: number): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    let sent = 0;
    const tick = (): void => {
      this.#timers.delete(timer);
      if (res.destroyed || sent >= body.length || sent >= TICK_CAP) return void res.end();
      res.write(body.subarray(sent, ++sent));
      timer = setTimeout(tick, intervalMs);
      this.#timers.add(timer);
    };
    let timer = setTimeout(tick, 0);
    this.#timers.add(timer);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if ('closeAllConnections' in server) server.closeAllConnections();
            // Unbound servers (the two behind a dual port) have nothing to close but their connections.
            if (!server.listening) return resolve();
            server.close(() => resolve());
          }),
      ),
    );
  }
}

export function parseTarget(path: string): Target {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  const manifest = /^\/v2\/(.+)\/manifests\/([^/?]+)$/.exec(path);
  if (manifest) return { kind: 'manifest', repository: manifest[1]!, reference: decodeURIComponent(manifest[2]!) };
  const blob = /^\/v2\/(.+)\/blobs\/([^/?]+)$/.exec(path);
  if (blob) return { kind: 'blob', repository: blob[1]!, digest: decodeURIComponent(blob[2]!) };
  return { kind: 'other' };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

export function redirect(res: ServerResponse, location: string, status = 307): void {
  res.writeHead(status, { location, 'content-length': '0' });
  res.end();
}

/**
 * Streams `chunk` again and again (chunked, no Content-Length unless given)
 * until the client goes away or `cap` bytes were sent, honouring backpressure.
 */
export function sendEndless(
  res: ServerResponse,
  options: { status?: number; chunk?: Buffer; headers?: Record<string, string>; cap?: number } = {},
): void {
  const chunk = options.chunk ?? Buffer.alloc(64 << 10, 0x20);
  const cap = Math.min(options.cap ?? ENDLESS_CAP, ENDLESS_CAP);
  res.writeHead(options.status ?? 200, { 'content-type': 'application/json', ...options.headers });
  let sent = 0;
  const pump = (): void => {
    while (!res.destroyed && sent < cap) {
      const part = chunk.subarray(0, Math.min(chunk.length, cap - sent));
      sent += part.length;
      if (!res.write(part)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

export const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface TinyImage {
  manifest: Buffer;
  manifestDigest: string;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
  blobs: Map<string, Buffer>;
}

/**
 * A one-layer linux/amd64 OCI image; `layers` replaces the layer descriptors
 * (bad sizes, bad digests) while the real layer stays servable.
 */
export function tinyImage(options: { layerBytes?: number; layers?: (real: Record<string, unknown>) => unknown[] } = {}): TinyImage {
  const content = Buffer.alloc(options.layerBytes ?? 1000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7919) & 0xff;
  // Level 0: a stored block, so the layer is about as large as the content (sizes stay predictable).
  const layer = gzipSync(content, { level: 0 });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(content)] } }));
  const real = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: options.layers ? options.layers(real) : [real],
    }),
  );
  const blobs = new Map([
    [sha256(config), config],
    [sha256(layer), layer],
  ]);
  return { manifest, manifestDigest: sha256(manifest), configDigest: sha256(config), layer, layerDigest: sha256(layer), blobs };
}

/** Answers like an honest registry serving `image` under any repository and tag. */
export function serveImage(image: TinyImage): Handler {
  return (_req, res, target) => {
    if (target.kind === 'base') return sendJson(res, 200, {});
    if (target.kind === 'manifest') {
      return sendJson(res, 200, image.manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': image.manifestDigest });
    }
    const blob = target.kind === 'blob' ? image.blobs.get(target.digest) : undefined;
    if (blob) return sendJson(res, 200, blob, { 'content-type': 'application/octet-stream' });
    sendJson(res, 404, { errors: [{ code: target.kind === 'blob' ? 'BLOB_UNKNOWN' : 'NOT_FOUND', message: 'not here' }] });
  };
}
