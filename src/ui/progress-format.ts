/** Plain-text pieces of a progress row, shared by the Ink views and any line-based output. */
import { formatBytes, formatDuration, type ByteProgress } from '../core/progress.js';

export const BAR_WIDTH = 20;

/** Fraction of the work done, 0..1; 0 while the total is unknown. */
export function progressFraction(progress: ByteProgress): number {
  if (progress.total <= 0) return 0;
  return Math.min(1, Math.max(0, progress.done / progress.total));
}

/** A bar of exactly `width` cells; full only when the work is. */
export function progressBar(progress: ByteProgress, width = BAR_WIDTH): string {
  const fraction = progressFraction(progress);
  // Round down so an almost-done transfer never shows a full bar.
  const filled = Math.floor(fraction * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** "40%  18.0 MiB / 45.0 MiB  3.4 MiB/s  ETA 8s"; rate and ETA only once they are known. */
export function progressStats(progress: ByteProgress): string {
  const percent = `${Math.floor(progressFraction(progress) * 100)}%`.padStart(4);
  const parts = [percent, `${formatBytes(progress.done)} / ${formatBytes(progress.total)}`];
  if (progress.done < progress.total) {
    if (progress.bytesPerSecond > 0) parts.push(`${formatBytes(Math.round(progress.bytesPerSecond))}/s`);
    if (progress.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  }
  return parts.join('  ');
}
