/**
 * A TCP proxy on 127.0.0.1 that cuts the first connection whose client has
 * sent more than `cutAfterBytes`: what a dropped API server connection looks
 * like to lading in the middle of a streamed exec. TLS passes through untouched.
 * `stall` instead: the connection stays open and nothing moves any more either
 * way (a peer or a NAT that vanished without a word).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpCutProxy {
  host: string;
  port: number;
  /** How many connections were cut. */
  cuts: () => number;
  stop(): Promise<void>;
}

export async function startTcpCutProxy(target: { host: string; port: number }, cutAfterBytes: number, maxCuts = 1, mode: 'cut' | 'stall' = 'cut'): Promise<TcpCutProxy> {
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    let stalled = false;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (stalled) return;
      if (cuts < maxCuts && sent > cutAfterBytes) {
        cuts++;
        if (mode === 'stall') {
          stalled = true;
          upstream.unpipe(client);
          return;
        }
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    cuts: () => cuts,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
