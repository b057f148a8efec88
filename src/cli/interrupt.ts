/**
 * Ctrl-C as one AbortSignal: the first SIGINT/SIGTERM aborts the running
 * command so it can clean up (temporary files, agents, the terminal); the
 * listeners are removed when the command ends.
 *
 * Cleanup is bounded: a second signal, or cleanup still under way after
 * `graceMs`, stops the process at once with exit code 130. The deadline's
 * timer is unref'd, so it never delays an exit that happens by itself; it
 * fires only when something (a connection nobody closed, a request that never
 * settles) would keep lading running after the operator asked it to stop.
 */
import { InterruptedError } from '../core/errors.js';

export interface Interrupt {
  signal: AbortSignal;
  dispose(): void;
}

export interface InterruptOptions {
  /** How long cleanup may run after the first signal. */
  graceMs?: number;
  /** Ends the process; `ended` says whether the command had already returned. */
  forceStop?: (reason: string, ended: boolean) => void;
}

type ProcessLike = Pick<NodeJS.Process, 'on' | 'off'>;

export const INTERRUPT_GRACE_MS = 30_000;

function stopNow(reason: string, ended: boolean): void {
  if (!ended) process.stderr.write(`\nlading: ${reason}; stopping now (exit 130). Run the same command again: it starts from what is in place.\n`);
  if (process.env.LADING_DEBUG) process.stderr.write(`lading: still open at exit: ${process.getActiveResourcesInfo().join(', ')}\n`);
  // The one place lading ends the process itself: the operator asked twice, or cleanup overran.
  process.exit(ended ? (process.exitCode ?? 130) : 130);
}

export function onInterrupt(processLike: ProcessLike = process, options: InterruptOptions = {}): Interrupt {
  const graceMs = options.graceMs ?? INTERRUPT_GRACE_MS;
  const forceStop = options.forceStop ?? stopNow;
  const controller = new AbortController();
  let ended = false;
  const handler = () => {
    if (controller.signal.aborted) {
      forceStop('interrupted again', ended);
      return;
    }
    controller.abort(new InterruptedError());
    setTimeout(() => forceStop(`cleanup still under way ${Math.round(graceMs / 1000)} s after the interrupt`, ended), graceMs).unref();
  };
  processLike.on('SIGINT', handler);
  processLike.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      ended = true;
      processLike.off('SIGINT', handler);
      processLike.off('SIGTERM', handler);
    },
  };
}
