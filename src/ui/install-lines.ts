/**
 * `lading install` in words: the plan shown before anything changes, and the
 * report as a table of images by nodes with what failed and why. Plain text,
 * shared by the Ink screens and the plain mode.
 */
import { printableLines } from '../core/util/printable.js';
import { formatBytes } from '../core/progress.js';
import type { InstallReport, NodePlan, NodeReport } from '../core/install/install-job.js';

interface MirrorLike {
  registry: string;
  endpoints: string[];
}

export function planLines(plans: NodePlan[], mirrors: MirrorLike[] = []): string[] {
  const lines = ['Plan:'];
  for (const plan of plans) {
    const present = new Set(plan.alreadyPresent);
    const toInject = plan.archive.images.filter(({ image }) => !present.has(image.name));
    const bytes = toInject.reduce((sum, { platform }) => sum + platform.config.size + platform.layers.reduce((a, l) => a + l.size, 0), 0);
    lines.push(
      `  ${plan.facts.name}  ${plan.facts.platform}  ${plan.facts.runtimeVersion}${plan.facts.distribution !== 'kubernetes' ? ` (${plan.facts.distribution})` : ''}: ` +
        `inject ${toInject.length} image${toInject.length === 1 ? '' : 's'} (up to ${formatBytes(bytes)})` +
        `${present.size ? `, ${present.size} already present` : ''}` +
        `${plan.imageFs ? ` (${formatBytes(plan.imageFs.available)} of ${formatBytes(plan.imageFs.size)} free on its image filesystem)` : ''}; ` +
        (plan.facts.runtime === 'cri-o'
          ? 'into the read-only additional image store; storage.conf lists it (backed up first; CRI-O restarts only if the file changes)'
          : mirrors.length
            ? 'into containerd'
            : 'no runtime configuration is changed'),
    );
  }
  if (mirrors.length) {
    lines.push(
      `  mirrors: ${mirrors.map((m) => `${m.registry} -> ${m.endpoints.join(', ')}`).join('; ')}`,
      '    (containerd: certs.d/<registry>/hosts.toml, config_path enabled if needed, with a restart; CRI-O: a registries.conf.d drop-in and a reload; every file backed up first)',
    );
  }
  return lines.map(printableLines);
}

const GOOD = new Set(['injected', 'present']);

function imageCell(node: NodeReport, name: string): string {
  const image = node.images.find((i) => i.name === name);
  if (!image) return node.error ? '✖ not done' : '- (other platform)';
  return `${GOOD.has(image.outcome) ? '✔' : '✖'} ${image.outcome}`;
}

function smokeCell(node: NodeReport): string {
  if (!node.smoke) return node.error ? '✖ not done' : '-';
  return node.smoke.ok ? '✔ started' : '✖ failed';
}

/** Columns padded to their widest cell; the last one is not padded. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('   ').trimEnd());
}

/**
 * The install (or check) report: a status line, images x nodes, then each
 * problem and each file written. The pod row is left out when no pod ran (a check).
 */
export function reportLines(report: InstallReport, { title }: { title?: string } = {}): string[] {
  const lines = [`${report.ok ? '✔ OK' : '✖ FAILED'}${title ? ` (${title})` : ''}  ${report.cluster.server} (${report.cluster.version})`, ''];
  const names = [...new Set(report.nodes.flatMap((n) => n.images.map((i) => i.name)))];
  const rows = [
    ['IMAGE', ...report.nodes.map((n) => n.node)],
    ...names.map((name) => [name, ...report.nodes.map((n) => imageCell(n, name))]),
    ...(report.nodes.some((n) => n.smoke) ? [['pod without pulling', ...report.nodes.map(smokeCell)]] : []),
  ];
  lines.push(...table(rows).map((line) => `  ${line}`));

  const problems: string[] = [];
  const files: string[] = [];
  for (const node of report.nodes) {
    if (node.error) problems.push(`${node.node}: ${node.error}${node.hint ? `\n      Next: ${node.hint}` : ''}`);
    for (const image of node.images) {
      if (!GOOD.has(image.outcome)) problems.push(`${node.node}: ${image.name} ${image.outcome}${image.detail ? ` (${image.detail})` : ''}`);
    }
    if (node.smoke && !node.smoke.ok) problems.push(`${node.node}: pod from ${node.smoke.image}: ${node.smoke.detail}`);
    for (const file of node.changedFiles) files.push(`${node.node}: ${file}`);
  }
  if (problems.length) lines.push('', 'Problems:', ...problems.map((p) => `  ✖ ${p}`));
  if (files.length) lines.push('', 'Files written (originals backed up on the node; lading install --restore puts them back):', ...files.map((f) => `  ${f}`));
  return lines.map(printableLines);
}
