/** Plain-text renderings for the no-terminal mode: fixed lines, no cursor movement. */
import type { BundleBase } from '../core/bundle/layout.js';
import { printableLines } from '../core/util/printable.js';
import type { CreateSummary } from '../core/bundle/summary.js';
import type { InspectReport } from '../core/bundle/inspect.js';
import type { VerifyReport } from '../core/bundle/verify.js';
import { formatBytes, formatDuration } from '../core/progress.js';
import { imageSummaryLines } from '../ui/summary-lines.js';

export function createSummaryLines(s: CreateSummary): string[] {
  const pct = s.totalLayerBytes > 0 ? Math.round((s.savedBytes / s.totalLayerBytes) * 100) : 0;
  return [
    `Bundle    ${s.bundlePath}`,
    `Size      ${formatBytes(s.bundleBytes)} (${s.bundleBytes} bytes)`,
    `sha256    ${s.bundleSha256}`,
    `Images    ${s.images} for ${s.platforms.join(', ')}`,
    `Layers    ${s.uniqueLayers} unique, ${formatBytes(s.uniqueLayerBytes)}; dedup saved ${formatBytes(s.savedBytes)} (${pct}%)`,
    `Fetched   ${formatBytes(s.downloadedBytes)} from registries in ${formatDuration(s.durationMs / 1000)}`,
    ...(s.imageList?.length ? ['', ...imageSummaryLines(s).map((line) => `  ${line}`)] : []),
  ];
}

/** A delta's base as an operator reads it: a bundle (its lading.json) or a cluster's inventory. */
export function describeBase(base: BundleBase): string {
  return base.cluster !== undefined || base.name === 'inventory'
    ? `the inventory taken ${base.version} of cluster ${base.cluster ?? '(uid unknown)'} (inventory file ${base.metadataDigest})`
    : `${base.name} ${base.version} (lading.json ${base.metadataDigest})`;
}

export function inspectLines(r: InspectReport): string[] {
  const lines = [
    `${r.name} ${r.version}  (created ${r.createdAt} by lading ${r.toolVersion})`,
    `File      ${r.bundle}  ${formatBytes(r.fileBytes)}`,
    `Platforms ${r.platforms.join(', ')}`,
    ...(r.delta
      ? [`Delta     against ${describeBase(r.delta.base)}: ${r.delta.omittedLayers} layers, ${formatBytes(r.delta.omittedBytes)} left out, which the target must hold`]
      : []),
    '',
  ];
  for (const image of r.images) {
    lines.push(`${image.name}`);
    lines.push(`  digest  ${image.digest}`);
    if (image.source !== image.name) lines.push(`  source  ${image.source}`);
    for (const p of image.platforms) {
      lines.push(`  ${p.platform.padEnd(16)} ${formatBytes(p.size).padStart(10)}  ${p.layers} layers  ${p.manifest}`);
    }
  }
  const { layers } = r;
  lines.push('');
  lines.push(`Layers    ${layers.unique} unique of ${layers.total}: ${formatBytes(layers.uniqueBytes)} stored, ${formatBytes(layers.totalBytes)} referenced, ${formatBytes(layers.savedBytes)} saved by dedup`);
  return lines.map(printableLines);
}

export function verifyLines(r: VerifyReport): string[] {
  const head = `${r.ok ? 'OK' : 'FAILED'}  ${r.bundle}: ${r.images} images, ${r.blobsChecked} blobs, ${formatBytes(r.bytesChecked)} hashed`;
  const delta = r.base
    ? [`  delta against ${describeBase(r.base)}: the target must hold ${r.expectedOnTarget?.length ?? 0} layers it leaves out${r.expectedOnTarget?.length ? ':' : ''}`, ...(r.expectedOnTarget ?? []).map((o) => `    ${o.digest} (${formatBytes(o.size)})`)]
    : [];
  return [head, ...delta.map(printableLines), ...r.problems.map((p) => `  ✖ ${printableLines(p.message)}`)];
}
