/** Byte progress as throttled output lines, for renderers that print lines (listr2's simple renderer). */
import type { ListrTaskWrapper } from 'listr2';
import { formatBytes, formatDuration, type ProgressHub } from '../progress.js';

type AnyTask = ListrTaskWrapper<any, any, any>;

/** Mirrors hub progress for one key into a task's output line at most every `intervalMs`. */
export function followProgress(hub: ProgressHub, key: string, task: AnyTask, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => undefined;
  let last = Number.NEGATIVE_INFINITY;
  let finished = false;
  return hub.subscribe((event) => {
    if (event.key !== key || finished) return;
    const now = performance.now();
    const { done, total, bytesPerSecond, etaSeconds } = event.progress;
    if (done >= total) finished = true;
    else if (now - last < intervalMs) return;
    last = now;
    const rate = bytesPerSecond > 0 ? `, ${formatBytes(bytesPerSecond)}/s` : '';
    const eta = etaSeconds !== undefined && done < total ? `, ETA ${formatDuration(etaSeconds)}` : '';
    // Line renderers print output without its task title, and several tasks run at once.
    task.output = `${key}: ${formatBytes(done)} / ${formatBytes(total)}${rate}${eta}`;
  });
}

