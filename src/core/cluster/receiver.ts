/**
 * The fast way into a node: a receiver in the node agent (lading's injector
 * program, `injector receive`), reached through the API server's pods/proxy.
 * An exec stream costs the API server WebSocket frames to unmask and SPDY to
 * re-frame, and passes the kubelet and the runtime's stream server; a proxied
 * PUT costs the API server a copy, and goes straight to the pod. Measured on
 * the test cluster (1 GiB, 2 cores): see bench/inject.ts.
 *
 * The receiver starts through exec, and that exec session stays open as its
 * control channel (encrypted up to the kubelet): each import gets a fresh
 * single-use token and its script there. Only the archive and the token cross
 * the hop from the API server to the pod, which is plain HTTP on the pod
 * network: a token read there is already spent, and the runtime checks every
 * blob's digest, as lading checks the image digests afterwards.
 * (`--transport exec` keeps every byte on exec, encrypted to the kubelet.)
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { request } from 'undici';
import { sleep } from '../oci/retry.js';
import { shellQuote } from '../host.js';
import type { ProgramFile } from '../configmap/injector-binary.js';
import { pollDelayMs } from '../util/poll.js';
import { printable } from '../util/printable.js';
import { trace } from '../util/trace.js';
import { ApiServerHttp } from './api-http.js';
import { ExecConnectionError, execInPod, type ExecResult } from './exec.js';
import type { ClusterConnection } from './kube.js';

/** The receiver's port in the agent pod's own network namespace (the pod has no hostNetwork: any port is free). */
export const RECEIVER_PORT = 7070;
/** Where the program is written on the node (lading's own directory); it deletes its file once it runs. */
const RECEIVER_DIR = '/var/lib/lading/bin';
const READY_WITHIN_MS = 10_000;
/** The receiver answers with two 64 KiB tails in JSON; anything much longer is not its answer. */
const ANSWER_LIMIT = 1 << 20;

export interface ReceiverTarget {
  conn: ClusterConnection;
  namespace: string;
  pod: string;
  container: string;
  node: string;
  /** The argv that runs a host program as the agent's hostExec does (loader, chroot /host). */
  hostPrefix: string[];
  /** Runs a script on the host through exec (to write the program, or remove it). */
  hostExec: (script: string, options: { stdin?: Readable; signal?: AbortSignal }) => Promise<ExecResult>;
  /** Prepended to every script (the host's PATH). */
  scriptPrologue: string;
  signal?: AbortSignal;
}

export interface Receiver {
  /** Runs a host script with `stdin` streamed through pods/proxy; resolves with its exit code and output. */
  run(script: string, stdin: Readable, signal?: AbortSignal): Promise<ExecResult>;
  /** Ends the control channel: the receiver stops (and with it any command still running). */
  close(): Promise<void>;
}

/** Why the receiver could not be used; the agent then streams through exec. */
export class ReceiverUnavailable extends Error {
  override name = 'ReceiverUnavailable';
}

/** Writes the program onto the node, starts it through exec, and waits until the API server reaches it. */
export async function startReceiver(target: ReceiverTarget, program: ProgramFile): Promise<Receiver> {
  const { conn, namespace, pod, signal } = target;
  const path = `${RECEIVER_DIR}/receiver-${pod}`;
  const partial = `${path}.partial`;
  const written = await target.hostExec(
    [
      'umask 077',
      `mkdir -p ${RECEIVER_DIR} || exit $?`,
      `cat > ${shellQuote(partial)} || exit $?`,
      `[ "$(wc -c < ${shellQuote(partial)})" -eq ${program.size} ] || { echo "the program arrived incomplete" >&2; rm -f ${shellQuote(partial)}; exit 1; }`,
      `chmod 700 ${shellQuote(partial)} && mv -f ${shellQuote(partial)} ${shellQuote(path)}`,
    ].join('\n'),
    { stdin: createReadStream(program.path), ...(signal ? { signal } : {}) },
  );
  if (written.exitCode !== 0) throw new ReceiverUnavailable(`writing it to ${path} failed: ${(written.stderr || written.message).trim()}`);

  const control = new PassThrough();
  let ended: string | undefined;
  const session = execInPod(conn.kc, {
    namespace,
    pod,
    container: target.container,
    command: [`/host${path}`, 'receive', '-listen', `:${RECEIVER_PORT}`, '-remove-self', '--', ...target.hostPrefix, '/bin/sh', '-c'],
    stdin: control,
    ...(signal ? { signal } : {}),
  }).then(
    (result) => {
      ended = `it stopped (exit ${result.exitCode}): ${(result.stderr || result.message).trim().split('\n').at(-1) ?? ''}`;
    },
    (error: unknown) => {
      ended = `its exec session failed: ${(error as Error).message}`;
    },
  );
  const http = new ApiServerHttp(conn.kc);
  const base = new URL(conn.server);
  const prefix = `${base.pathname.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${RECEIVER_PORT}/proxy`;
  const close = async () => {
    control.end();
    // The receiver stops at the end of its control channel; the agent's removal ends it otherwise.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([session, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
    clearTimeout(timer);
    await http.close();
  };

  try {
    await waitUntilReachable(http, new URL(`${prefix}/ready`, base), () => ended, signal);
  } catch (error) {
    await close();
    // A receiver that ran has removed its file already; one that never did (noexec, say) has not.
    await target.hostExec(`rm -f ${shellQuote(path)}`, {}).catch(() => undefined);
    throw error;
  }
  trace(`node ${target.node}: receiver reachable through pods/proxy`);

  return {
    close,
    run: async (script, stdin, runSignal) => {
      if (ended) throw new ExecConnectionError(`streaming to node ${target.node}`, `the receiver ${ended}`);
      const token = randomBytes(32).toString('hex');
      control.write(`${token} ${Buffer.from(`${target.scriptPrologue}${script}`).toString('base64')}\n`);
      const { dispatcher, headers } = await http.prepare();
      const abort = runSignal ?? signal;
      let res;
      try {
        res = await request(new URL(`${prefix}/run`, base), {
          method: 'PUT',
          headers: { ...headers, 'content-type': 'application/octet-stream', 'x-lading-token': token },
          body: stdin,
          dispatcher,
          ...(abort ? { signal: abort } : {}),
        });
      } catch (error) {
        if (abort?.aborted) throw abort.reason;
        throw new ExecConnectionError(`streaming to node ${target.node} through pods/proxy`, (error as Error).message);
      } finally {
        stdin.destroy();
      }
      const text = await boundedText(res.body, ANSWER_LIMIT);
      const what = `streaming to node ${target.node} through pods/proxy`;
      if (res.statusCode !== 200) throw new ExecConnectionError(what, `HTTP ${res.statusCode}: ${printable(text.slice(0, 300).trim())}`);
      const answer = receiverAnswer(text);
      if (!answer) throw new ExecConnectionError(what, `an answer that is not the receiver's: ${printable(text.slice(0, 200))}`);
      return { exitCode: answer.exitCode, message: '', stdout: answer.stdout, stderr: answer.stderr };
    },
  };
}

/** Polls GET /ready through the API server until it answers 200, the receiver ends, or time is up. */
async function waitUntilReachable(http: ApiServerHttp, url: URL, ended: () => string | undefined, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let last = 'no answer yet';
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw signal.reason;
    const why = ended();
    if (why) throw new ReceiverUnavailable(why);
    try {
      const { dispatcher, headers } = await http.prepare();
      const res = await request(url, { method: 'GET', headers, dispatcher, headersTimeout: 5_000, bodyTimeout: 5_000, ...(signal ? { signal } : {}) });
      const text = await boundedText(res.body, ANSWER_LIMIT);
      if (res.statusCode === 200) return;
      last = `HTTP ${res.statusCode}: ${printable(text.slice(0, 200).trim())}`;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      last = (error as Error).message;
    }
    if (Date.now() >= deadline) throw new ReceiverUnavailable(`the API server did not reach it through pods/proxy within ${READY_WITHIN_MS / 1000} s (${last})`);
    await sleep(pollDelayMs(attempt), signal);
  }
}

/** Reads at most `limit` bytes of a body as text; the rest is dropped unread. */
async function boundedText(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** The receiver's JSON answer, checked: undefined when it is not one. */
export function receiverAnswer(text: string): { exitCode: number; stdout: string; stderr: string } | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (Number.isInteger(value.exitCode) && typeof value.stdout === 'string' && typeof value.stderr === 'string') {
      return { exitCode: value.exitCode as number, stdout: value.stdout, stderr: value.stderr };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
