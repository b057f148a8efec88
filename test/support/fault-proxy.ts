/**
 * A fault-injecting HTTP proxy in front of a real registry: it forwards every
 * request unchanged, except where a rule says to answer with an error status,
 * to cut a response body after some bytes, or to slow it down. Used to test
 * retries and interruption against the real registry behind it.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** Send headers and this many body bytes, then destroy the socket. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward, but at most this many bytes per second. */
  | { kind: 'slow'; bytesPerSecond: number }
  /** Forward, flipping the byte at this offset of the body. */
  | { kind: 'corrupt'; atByte: number };

export interface FaultRule {
  /** Which requests: matched against "METHOD PATH". */
  match: RegExp;
  fault: Fault;
  /** How many matching requests get the fault; then they pass. Default: all. */
  times?: number;
  /** How many matching requests pass before the fault starts. Default: 0. */
  after?: number;
}

export interface FaultProxy {
  host: string;
  /** "METHOD PATH -> what happened", in order. */
  log: string[];
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: FaultRule[]): Promise<FaultProxy> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:') throw new Error('the fault proxy fronts plain-HTTP registries only');
  const log: string[] = [];
  const remaining = rules.map((r) => r.times ?? Number.POSITIVE_INFINITY);
  const passing = rules.map((r) => r.after ?? 0);

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const line = `${req.method} ${req.url}`;
    const index = rules.findIndex((r, i) => remaining[i]! > 0 && r.match.test(line) && (passing[i] = passing[i]! - 1) < 0);
    const fault = index === -1 ? undefined : rules[index]!.fault;
    if (index !== -1) remaining[index]!--;
    if (fault?.kind === 'status') {
      log.push(`${line} -> ${fault.status}`);
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
      return;
    }
    const upstreamReq = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (upstreamRes) => {
        // As a reverse proxy does: the registry's absolute Locations (upload sessions) point back at the proxy.
        const location = upstreamRes.headers.location;
        if (location?.startsWith(target.origin)) upstreamRes.headers.location = `http://${req.headers.host}${location.slice(target.origin.length)}`;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (!fault) {
          log.push(`${line} -> ${upstreamRes.statusCode}`);
          upstreamRes.pipe(res);
          return;
        }
        if (fault.kind === 'cut') {
          log.push(`${line} -> cut after ${fault.afterBytes}`);
          let sent = 0;
          upstreamRes.on('data', (chunk: Buffer) => {
            if (sent >= fault.afterBytes) return;
            const part = chunk.subarray(0, fault.afterBytes - sent);
            sent += part.length;
            res.write(part);
            if (sent >= fault.afterBytes) {
              upstreamRes.destroy();
              res.socket?.destroy();
            }
          });
          return;
        }
        if (fault.kind === 'corrupt') {
          log.push(`${line} -> corrupt byte ${fault.atByte}`);
          let seen = 0;
          upstreamRes.on('data', (chunk: Buffer) => {
            if (fault.atByte >= seen && fault.atByte < seen + chunk.length) {
              chunk = Buffer.from(chunk);
              chunk[fault.atByte - seen]! ^= 0xff;
            }
            seen += chunk.length;
            res.write(chunk);
          });
          upstreamRes.on('end', () => res.end());
          return;
        }
        log.push(`${line} -> slow ${fault.bytesPerSecond} B/s`);
        const started = performance.now();
        let sent = 0;
        upstreamRes.on('data', (chunk: Buffer) => {
          sent += chunk.length;
          res.write(chunk);
          const ahead = sent / fault.bytesPerSecond - (performance.now() - started) / 1000;
          if (ahead > 0) {
            upstreamRes.pause();
            setTimeout(() => upstreamRes.resume(), ahead * 1000);
          }
        });
        upstreamRes.on('end', () => res.end());
      },
    );
    upstreamReq.on('error', () => res.destroy());
    req.pipe(upstreamReq);
  });
  server.on('connection', (socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
