/** The create summary as label/value lines, shared by the Ink Summary and plain-text output. */
import { formatBytes, formatDuration } from '../core/progress.js';
import type { CreateSummary } from '../core/bundle/summary.js';
import { printable } from '../core/util/printable.js';

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

/**
 * One line per image that went into the bundle (reference, digest, platforms,
 * size), columns aligned: the operator's record, the same in every view. When
 * the lines would not fit `maxWidth` (a terminal), digests are shortened to 12
 * hex digits, which still name them unambiguously to the eye; logs keep them whole.
 */
export function imageSummaryLines(summary: CreateSummary, maxWidth = Infinity): string[] {
  const rows = (summary.imageList ?? []).map((image) => ({
    reference: printable(image.reference),
    digest: image.digest,
    platforms: image.platforms.join(', '),
    size: formatBytes(image.bytes),
  }));
  const width = (key: 'reference' | 'platforms' | 'size') => Math.max(0, ...rows.map((row) => row[key].length));
  const [ref, platforms, size] = [width('reference'), width('platforms'), width('size')];
  const lines = (digest: (d: string) => string) =>
    rows.map((row) => `${row.reference.padEnd(ref)}  ${digest(row.digest)}  ${row.platforms.padEnd(platforms)}  ${row.size.padStart(size)}`);
  const whole = lines((d) => d);
  if (whole.every((line) => line.length <= maxWidth)) return whole;
  return lines((d) => `${d.slice(0, d.indexOf(':') + 13)}…`);
}
