/**
 * Which way a node agent takes for bulk streams (image archives): the
 * receiver through pods/proxy (receiver.ts), started on the first one, or
 * exec, with the reason, when it cannot be had.
 */
import { ReceiverUnavailable, type Receiver } from './receiver.js';
import { trace } from '../util/trace.js';

/**
 * How bulk streams reach the agent: `proxy` tries the receiver through pods/proxy (receiver.ts) and falls
 * back to exec when the API server cannot reach it; `exec` never tries.
 */
export type StreamTransport = 'proxy' | 'exec';

/** Which way bulk streams went, and why exec when proxy was asked for. */
export interface TransportUsed {
  transport: 'pods/proxy' | 'exec';
  reason?: string;
}

/** The agent's receiver, started on the first bulk stream; exec (and why) when it cannot be had. */
export class BulkStreams {
  #starting: Promise<Receiver | undefined> | undefined;
  used: TransportUsed | undefined;

  constructor(
    readonly transport: StreamTransport,
    readonly start: () => Promise<Receiver>,
    readonly signal?: AbortSignal,
  ) {}

  receiver(): Promise<Receiver | undefined> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Starts the receiver without waiting: the first stream (or close) awaits the same start and sees its outcome. */
  prepare(): void {
    // Handled here so a start nobody has awaited yet is not an unhandled rejection; receiver() still rejects.
    this.receiver().catch(() => undefined);
  }

  async #start(): Promise<Receiver | undefined> {
    if (this.transport === 'exec') {
      this.used = { transport: 'exec', reason: '--transport exec' };
      return undefined;
    }
    try {
      const receiver = await this.start();
      this.used = { transport: 'pods/proxy' };
      return receiver;
    } catch (error) {
      // Whatever kept the receiver away (no route from the API server to pods, a NetworkPolicy, noexec),
      // exec still works: only Ctrl-C ends the run here.
      if (this.signal?.aborted) throw error;
      const reason = error instanceof ReceiverUnavailable ? error.message : `it could not be started: ${(error as Error).message}`;
      this.used = { transport: 'exec', reason: `the receiver: ${reason}` };
      trace(`receiver unavailable, streaming through exec: ${reason}`);
      return undefined;
    }
  }

  async close(): Promise<void> {
    const receiver = await this.#starting?.catch(() => undefined);
    await receiver?.close();
  }
}

