/**
 * Ctrl-C as one AbortSignal: the first SIGINT/SIGTERM aborts the running
 * command so it can clean up (temporary files, terminal); the listeners are
 * removed when the command ends.
 */
import { InterruptedError } from '../core/errors.js';

export interface Interrupt {
  signal: AbortSignal;
  dispose(): void;
}

export function onInterrupt(processLike: Pick<NodeJS.Process, 'on' | 'off'> = process): Interrupt {
  const controller = new AbortController();
  const handler = () => {
    if (!controller.signal.aborted) controller.abort(new InterruptedError());
  };
  processLike.on('SIGINT', handler);
  processLike.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      processLike.off('SIGINT', handler);
      processLike.off('SIGTERM', handler);
    },
  };
}
