// Streams through the API server, with @kubernetes/client-node: exec with 64 MiB on stdin (EOF by the v5
// close signal, memory bounded by backpressure on the web socket), and binary bytes through the pod proxy.
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import https from 'node:https';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import {
  connect,
  createNamespace,
  deleteNamespace,
  ensureToolboxImage,
  podSpec,
  sleep,
  waitFor,
  waitForPodRunning,
  type TestCluster,
} from './helpers/cluster.js';

const STDIN_BYTES = 64 * 1024 * 1024;
const CHUNK = 256 * 1024;
/** Pause feeding while the web socket holds more than this (client-node itself never waits). */
const MAX_BUFFERED = 4 * 1024 * 1024;

/** The toolbox's deterministic blob: sha256("lading-e2e-blob-<i>") for i = 0, 1, ... (see toolbox/main.go). */
function expectedBlob(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    createHash('sha256').update(`lading-e2e-blob-${i}`).digest().copy(out, off);
  }
  return out;
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

describe('streams through the API server', () => {
  let c: TestCluster;
  let ns: string | undefined;
  before(async () => {
    c = await connect();
    const image = await ensureToolboxImage(c);
    ns = await createNamespace(c, 'exec');
    await c.core.createNamespacedPod({
      namespace: ns,
      body: podSpec('toolbox', c.nodeName, image, { command: ['/toolbox', 'serve', ':8080'], port: 8080 }),
    });
    await waitForPodRunning(c, ns, 'toolbox');
  });
  after(async () => {
    if (c) await deleteNamespace(c, ns);
  });

  it('execs with 64 MiB of stdin and gets back its sha256', async () => {
    const stdin = new PassThrough({ highWaterMark: CHUNK });
    const stdout = new Collect();
    const stderr = new Collect();
    let resolveStatus!: (s: k8s.V1Status) => void;
    const statusPromise = new Promise<k8s.V1Status>((r) => (resolveStatus = r));

    const ws = await new k8s.Exec(c.kc).exec(
      ns!,
      'toolbox',
      'main',
      ['/toolbox', 'sha256'],
      stdout,
      stderr,
      stdin,
      false,
      (s) => resolveStatus(s),
    );
    assert.equal(ws.protocol, 'v5.channel.k8s.io', 'the API server did not agree to the v5 protocol');
    const closed = once(ws, 'close');

    const hash = createHash('sha256');
    const chunk = Buffer.alloc(CHUNK);
    let maxBuffered = 0;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    for (let sent = 0; sent < STDIN_BYTES; sent += CHUNK) {
      randomFillSync(chunk);
      hash.update(chunk);
      // client-node sends each chunk on `data` without looking at the socket: wait for it to drain
      while (ws.bufferedAmount > MAX_BUFFERED) await sleep(2);
      if (!stdin.write(Buffer.from(chunk))) await once(stdin, 'drain');
      maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    stdin.end(); // client-node sends the v5 CLOSE for stdin: the command sees EOF

    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      statusPromise,
      closed.then(() => sleep(100)).then(() => undefined),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 180_000))),
    ]).finally(() => clearTimeout(timer));
    assert.ok(status, `no exec status (stderr: ${stderr.text()})`);
    assert.equal(status.status, 'Success', `exec failed: ${JSON.stringify(status)} stderr: ${stderr.text()}`);
    const [remoteHash, remoteCount] = stdout.text().trim().split(' ');
    assert.equal(Number(remoteCount), STDIN_BYTES, 'the command did not read every byte');
    assert.equal(remoteHash, hash.digest('hex'));
    assert.ok(maxBuffered <= MAX_BUFFERED + CHUNK, `web socket buffered ${maxBuffered} bytes`);
    console.log(
      `exec: 64 MiB through stdin, socket buffer peak ${(maxBuffered / 2 ** 20).toFixed(1)} MiB, ` +
        `RSS growth ${((rssPeak - rssBefore) / 2 ** 20).toFixed(1)} MiB`,
    );
    ws.close();
  });

  it('returns binary content byte for byte through the pod proxy', async () => {
    const size = 1024 * 1024 + 7; // not a multiple of anything convenient
    const server = c.kc.getCurrentCluster()!.server;
    const url = new URL(`/api/v1/namespaces/${ns}/pods/toolbox:8080/proxy/blob?size=${size}`, server);
    const opts: https.RequestOptions = {};
    await c.kc.applyToHTTPSOptions(opts);

    const fetchOnce = async (): Promise<{ status: number; type: string | undefined; body: Buffer }> => {
      const req = https.request(url, { ...opts, method: 'GET' });
      req.end();
      const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
      const chunks: Buffer[] = [];
      for await (const part of res) chunks.push(part as Buffer);
      return { status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) };
    };
    // the server in the pod may need a moment after the container started
    const res = await waitFor('the pod proxy to answer', async () => {
      const r = await fetchOnce();
      return r.status === 200 ? r : undefined;
    });
    assert.equal(res.type, 'application/octet-stream');
    assert.equal(res.body.length, size);
    const expected = expectedBlob(size);
    assert.ok(res.body.equals(expected), 'the proxied bytes differ from what the pod served');
    // the content is not valid UTF-8: a string round trip (as the generated proxy calls do) would corrupt it
    assert.notEqual(Buffer.from(res.body.toString('utf8'), 'utf8').length, size);
  });
});
