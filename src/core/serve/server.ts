/**
 * `lading serve`: a read-only registry over node:http or node:https, from a
 * catalog of bundles. Listening problems (port in use, address not here) are
 * AbortErrors with a next step; every request is reported to onRequest when
 * it ends, damaged blobs to onBad.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AbortError, ExitCode } from '../errors.js';
import type { DigestMismatchError } from '../oci/digest.js';
import type { Catalog, Stored } from './catalog.js';
import { RegistryHandler, sendError } from './routes.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AccessRecord {
  method: string;
  path: string;
  status: number;
  bytes: number;
  ms: number;
  remote: string;
}

export interface ServeOptions {
  listen: ListenAddress;
  tls?: { cert: Buffer; key: Buffer };
  onRequest?: (record: AccessRecord) => void;
  onBad?: (blob: Stored, error: DigestMismatchError) => void;
  /** A request failed inside lading (a bug or an unreadable bundle): answered 500, reported here. */
  onError?: (error: unknown) => void;
}

export interface RunningServer {
  /** The address actually bound (port 0 becomes a real port). */
  address: ListenAddress;
  url: string;
  close(): Promise<void>;
}

/** `HOST:PORT`, `[v6]:PORT` or `PORT` (on 127.0.0.1); port 0 picks a free one. */
export function parseListen(text: string): ListenAddress {
  const usage = (why: string) =>
    new AbortError(`--listen ${text}: ${why}`, { exitCode: ExitCode.usage, hint: 'Give ADDRESS:PORT, e.g. --listen 127.0.0.1:5000 or --listen 0.0.0.0:5000.' });
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text.trim());
  if (!match) throw usage('not ADDRESS:PORT');
  const port = Number(match[2]);
  if (port > 65535) throw usage(`port ${port} is above 65535`);
  const host = match[1] === undefined ? '127.0.0.1' : match[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function listenError(error: NodeJS.ErrnoException, address: ListenAddress): AbortError {
  const where = `${formatHost(address.host)}:${address.port}`;
  const next = `Stop what listens there, or pass another address, e.g. --listen ${formatHost(address.host)}:${address.port >= 65535 ? 5000 : address.port + 1}.`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new AbortError(`cannot listen on ${where}: the port is already in use`, { exitCode: ExitCode.usage, hint: next });
    case 'EACCES':
      return new AbortError(`cannot listen on ${where}: not allowed (ports below 1024 need privileges)`, { exitCode: ExitCode.usage, hint: 'Use a port above 1023, e.g. --listen 127.0.0.1:5000.' });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new AbortError(`cannot listen on ${where}: this machine has no such address`, { exitCode: ExitCode.usage, hint: 'Name an address of this machine, 127.0.0.1 or 0.0.0.0.' });
    default:
      return new AbortError(`cannot listen on ${where}: ${error.message}`, { exitCode: ExitCode.failure });
  }
}

export async function startServer(catalog: Catalog, options: ServeOptions): Promise<RunningServer> {
  const handler = new RegistryHandler(catalog, { onBad: (blob, error) => options.onBad?.(blob, error) });
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    let bytes = 0;
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: never[]) => {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.on('close', () => {
      options.onRequest?.({
        method: req.method ?? '?',
        path: req.url ?? '?',
        status: res.writableFinished ? res.statusCode : 0,
        bytes,
        ms: Math.round(performance.now() - started),
        remote: req.socket.remoteAddress ?? '?',
      });
    });
    handler.handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', 'lading serve could not read the bundle');
      else res.socket?.destroy();
    });
  };
  let server: Server;
  try {
    server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createHttpServer(onRequest);
  } catch (error) {
    throw new AbortError(`--tls-cert/--tls-key: not a usable certificate and key (${(error as Error).message})`, {
      exitCode: ExitCode.usage,
      hint: 'Pass a PEM certificate and its PEM private key.',
    });
  }
  // Slow clients may take their time with big layers; idle keep-alive connections are closed on shutdown.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, options.listen)));
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const address = { host: options.listen.host, port: bound.port };
  return {
    address,
    url: `${options.tls ? 'https' : 'http'}://${formatHost(address.host)}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
