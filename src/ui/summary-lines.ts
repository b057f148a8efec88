/** The create summary as label/value lines, shared by the Ink Summary and plain-text output. */
import { formatBytes, formatDuration } from '../core/progress.js';
import type { CreateSummary } from '../core/bundle/summary.js';

export interface SummaryLine {
  label: string;
  value: string;
}

export function summaryLines(summary: CreateSummary): SummaryLine[] {
  const platforms = summary.platforms.length > 0 ? ` (${summary.platforms.join(', ')})` : '';
  const saved = summary.savedBytes > 0 ? `, ${formatBytes(summary.savedBytes)} saved by sharing` : '';
  return [
    { label: 'Bundle', value: summary.bundlePath },
    { label: 'Images', value: `${summary.images}${platforms}` },
    { label: 'Layers', value: `${summary.uniqueLayers} unique, ${formatBytes(summary.uniqueLayerBytes)}${saved}` },
    { label: 'Downloaded', value: formatBytes(summary.downloadedBytes) },
    { label: 'Size', value: formatBytes(summary.bundleBytes) },
    { label: 'sha256', value: summary.bundleSha256 },
    { label: 'Duration', value: formatDuration(summary.durationMs / 1000) },
  ];
}

/** Lines with the labels padded to one column. */
export function formatSummaryLines(summary: CreateSummary): string[] {
  const lines = summaryLines(summary);
  const width = Math.max(...lines.map((line) => line.label.length));
  return lines.map((line) => `${line.label.padEnd(width)}  ${line.value}`);
}
