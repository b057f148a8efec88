/**
 * Exec in a pod with stdin streamed through the API server. client-node sends
 * every stdin chunk to the web socket as soon as it arrives and never waits,
 * so the feed here holds back while the socket's send buffer is full: memory
 * stays bounded whatever the size of what is streamed. Ending stdin sends the
 * v5 protocol's close signal, so the remote command sees EOF.
 */
import { once } from 'node:events';
import { PassThrough, Writable, type Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { sleep } from '../oci/retry.js';

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

export async function execInPod(kc: k8s.KubeConfig, options: ExecOptions): Promise<ExecResult> {
  const what = `exec in pod ${options.namespace}/${options.pod}`;
  const stdout = options.stdout ?? new Tail(4 << 20);
  const stderr = new Tail(64 << 10);
  const feed = options.stdin ? new PassThrough({ highWaterMark: 256 << 10 }) : null;
  let status: k8s.V1Status | undefined;
  let ws: Awaited<ReturnType<k8s.Exec['exec']>>;
  try {
    ws = await new k8s.Exec(kc).exec(options.namespace, options.pod, options.container, options.command, stdout, stderr, feed, false, (s) => {
      status = s;
    });
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
  const onAbort = () => ws.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.stdin && feed) {
      if (options.stdin && ws.protocol !== 'v5.channel.k8s.io') {
        ws.close();
        throw new AbortError(`${what}: the API server does not speak the v5 exec protocol, which lading needs to end stdin`, {
          exitCode: ExitCode.cluster,
          hint: 'Kubernetes 1.30 or newer is needed for streamed installs.',
        });
      }
      const limit = options.maxBufferedBytes ?? 4 << 20;
      for await (const chunk of options.stdin) {
        if (ws.readyState !== ws.OPEN) break;
        while (ws.bufferedAmount > limit && ws.readyState === ws.OPEN) await sleep(2);
        if (!feed.write(chunk)) await once(feed, 'drain');
      }
      feed.end();
    }
    await closed;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (ws.readyState === ws.OPEN) ws.close();
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
