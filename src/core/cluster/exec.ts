/**
 * Exec in a pod with stdin streamed through the API server (v5 channel
 * protocol over a WebSocket). lading writes the stdin frames itself rather
 * than through client-node, which sends each chunk as it arrives and never
 * waits: here a frame waits while the socket holds more than
 * `maxBufferedBytes`, resumed by the send callback (no polling), so memory
 * stays bounded whatever the size of what is streamed. Frames carry a zero
 * mask: RFC 6455's mask protects browser-era proxies from cache poisoning,
 * which cannot apply to a TLS connection from a CLI, and masking every byte
 * in JavaScript was a fifth of lading's CPU time in an injection. Ending
 * stdin sends the v5 close signal, so the remote command sees EOF.
 */
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import WebSocket from 'ws';
import { AbortError, ExitCode } from '../errors.js';

export interface ExecOptions {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin?: Readable;
  /** Where stdout goes; when absent it is collected (up to 4 MiB) into the result. */
  stdout?: Writable;
  /** Pause feeding stdin while the socket buffers more than this. */
  maxBufferedBytes?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** The command's exit code; -1 when it could not be started (see message). */
  exitCode: number;
  /** The API server's status message when the command failed or could not start. */
  message: string;
  stdout: string;
  /** The last 64 KiB of stderr. */
  stderr: string;
}

/** Thrown when the connection ends without the command's status: the command may or may not have finished. */
export class ExecConnectionError extends AbortError {
  constructor(what: string, detail: string) {
    super(`${what}: the connection to the API server ended before the command finished (${detail})`, {
      exitCode: ExitCode.cluster,
      hint: 'Check the API server and the network to it; running lading again resumes where it stopped.',
    });
    this.name = 'ExecConnectionError';
  }
}

class Tail extends Writable {
  #chunks: Buffer[] = [];
  #size = 0;
  constructor(readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: () => void): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - (this.#chunks[0]?.length ?? 0) >= this.limit && this.#chunks.length > 1) {
      this.#size -= this.#chunks.shift()!.length;
    }
    callback();
  }
  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

function exitCodeOf(status: k8s.V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (cause?.message && /^\d+$/.test(cause.message)) return Number(cause.message);
  return -1;
}

/** Channels of the v4/v5 exec protocols: the first byte of every binary message. */
const Channel = { stdin: 0, stdout: 1, stderr: 2, status: 3, close: 255 } as const;
const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
/** Stdin frames are coalesced up to this size: fewer, larger messages cost the API server and kubelet less per byte. */
const FRAME_BYTES = 1 << 20;
const HANDSHAKE_TIMEOUT_MS = 30_000;

function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

function execPath(options: ExecOptions): string {
  const query = new URLSearchParams({ container: options.container, stdout: 'true', stderr: 'true', stdin: options.stdin ? 'true' : 'false', tty: 'false' });
  for (const arg of options.command) query.append('command', arg);
  return `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}/exec?${query}`;
}

/** Why the API server refused the upgrade: the message of the Status it answered with, else the HTTP status. */
async function refusal(response: import('node:http').IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of response) {
    body += String(chunk);
    if (body.length > 64 << 10) break;
  }
  try {
    const status = JSON.parse(body) as k8s.V1Status;
    if (status.message) return status.message;
  } catch {
    // not a Status
  }
  return `HTTP ${response.statusCode} ${response.statusMessage ?? ''}`.trim();
}

/** Opens the exec WebSocket with the kubeconfig's TLS identity and headers; resolves once it is open. */
async function openExecSocket(kc: k8s.KubeConfig, options: ExecOptions): Promise<WebSocket> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig names no current cluster');
  const url = new URL(cluster.server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = url.href.replace(/\/$/, '');
  const opts: WebSocket.ClientOptions = {};
  await kc.applyToHTTPSOptions(opts);
  // A connection whose upgrade never comes (an API server or proxy that hangs) fails after a while, not never.
  const ws = new WebSocket(`${base}${execPath(options)}`, PROTOCOLS, { ...opts, perMessageDeflate: false, generateMask: zeroMask, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) => {
      // The refusal's own words first; closing the socket then reports an error nobody needs.
      ws.off('error', reject);
      ws.on('error', () => undefined);
      refusal(response)
        .catch(() => `HTTP ${response.statusCode}`)
        .then((message) => {
          reject(new Error(message));
          ws.terminate();
        });
    });
  });
}

/** Sends `stdin` as stdin frames, then the v5 close signal; stops early if the socket closes. */
async function feedStdin(ws: WebSocket, stdin: Readable, limit: number, closed: Promise<unknown>): Promise<void> {
  let waiting: Promise<void> | undefined;
  const send = (frame: Buffer) => {
    const sent = new Promise<void>((resolve) => ws.send(frame, () => resolve()));
    // The callback of the latest frame comes once everything before it is on the socket.
    if (ws.bufferedAmount > limit) waiting = sent;
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pendingBytes === 0) return;
    const frame = Buffer.allocUnsafe(pendingBytes + 1);
    frame[0] = Channel.stdin;
    let offset = 1;
    for (const chunk of pending) offset += chunk.copy(frame, offset);
    pending = [];
    pendingBytes = 0;
    send(frame);
  };
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    if (ws.readyState !== WebSocket.OPEN) return;
    pending.push(chunk);
    pendingBytes += chunk.length;
    // Coalesced while more is already waiting; sent at once when nothing is (a control line must not wait).
    if (pendingBytes >= FRAME_BYTES || stdin.readableLength === 0) flush();
    if (waiting) {
      await Promise.race([waiting, closed]);
      waiting = undefined;
    }
  }
  if (ws.readyState !== WebSocket.OPEN) return;
  flush();
  send(Buffer.from([Channel.close, Channel.stdin]));
}

/**
 * Routes the command's output: stdout and stderr to their streams (reading pauses while stdout is full),
 * the status to `onStatus`, after which the socket is closed.
 */
function routeOutput(ws: WebSocket, stdout: Writable, stderr: Writable, onStatus: (status: k8s.V1Status) => void): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const payload = data.subarray(1);
    switch (data[0]) {
      case Channel.stdout:
        if (payload.length > 0 && !stdout.write(payload)) {
          ws.pause();
          stdout.once('drain', () => ws.resume());
        }
        break;
      case Channel.stderr:
        if (payload.length > 0) stderr.write(payload);
        break;
      case Channel.status:
        try {
          onStatus(JSON.parse(payload.toString('utf8')) as k8s.V1Status);
        } catch {
          onStatus({ status: 'Failure', message: `unreadable status: ${payload.toString('utf8').slice(0, 200)}` });
        }
        ws.close();
        break;
    }
  });
}

export async function execInPod(kc: k8s.KubeConfig, options: ExecOptions): Promise<ExecResult> {
  const what = `exec in pod ${options.namespace}/${options.pod}`;
  const stdout = options.stdout ?? new Tail(4 << 20);
  const stderr = new Tail(64 << 10);
  let status: k8s.V1Status | undefined;
  let ws: WebSocket;
  try {
    ws = await openExecSocket(kc, options);
  } catch (error) {
    throw new AbortError(`${what}: ${(error as Error).message ?? String(error)}`, {
      exitCode: ExitCode.cluster,
      hint: 'lading needs pods/exec (create) in its namespace, and the API server must reach the kubelet.',
      cause: error,
    });
  }
  // A dropped connection is reported through 'close' without a status; an 'error' with no listener would crash.
  ws.on('error', () => undefined);
  const closed = once(ws, 'close');
  routeOutput(ws, stdout, stderr, (s) => (status = s));
  const onAbort = () => ws.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.stdin) {
      if (ws.protocol !== 'v5.channel.k8s.io') {
        ws.close();
        throw new AbortError(`${what}: the API server does not speak the v5 exec protocol, which lading needs to end stdin`, {
          exitCode: ExitCode.cluster,
          hint: 'Kubernetes 1.30 or newer is needed for streamed installs.',
        });
      }
      await feedStdin(ws, options.stdin, options.maxBufferedBytes ?? 4 << 20, closed);
    }
    await closed;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (ws.readyState === WebSocket.OPEN) ws.close();
    options.stdin?.destroy();
  }
  if (options.signal?.aborted) throw options.signal.reason;
  if (!status) throw new ExecConnectionError(what, 'no status received');
  return {
    exitCode: exitCodeOf(status),
    message: status.status === 'Success' ? '' : (status.message ?? status.reason ?? ''),
    stdout: stdout instanceof Tail ? stdout.text() : '',
    stderr: stderr.text(),
  };
}
