/**
 * `lading install` in words: the plan shown before anything changes, and the
 * report as a table of images by nodes with what failed and why. Plain text,
 * shared by the Ink screens and the plain mode.
 */
import { RECEIVER_PORT } from '../core/cluster/receiver.js';
import type { RegistryReport } from '../core/registry/registry-mode.js';
import { printableLines } from '../core/util/printable.js';
import { formatBytes } from '../core/progress.js';
import type { InstallReport, NodeReport } from '../core/install/report.js';
import type { NodePlan } from '../core/install/plan.js';
import { isGood, unpinnedImages } from '../core/install/outcome.js';
import { pickAgentImage } from '../core/cluster/agent.js';

interface MirrorLike {
  registry: string;
  endpoints: string[];
}

/** Whether the bundle carries the node's sandbox image (with the node's content: preflight refuses any other). */
function carriesSandbox(plan: NodePlan): boolean {
  const sandbox = pickAgentImage(plan.facts.node);
  return sandbox !== undefined && plan.archive.images.some(({ image }) => image.name === sandbox);
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
          ? `into the read-only additional image store${carriesSandbox(plan) ? ' (the sandbox image too, so a wipe of the default store cannot stop every pod)' : ''}; storage.conf lists it (backed up first; CRI-O restarts only if the file changes)`
          : `into containerd, pinned against the kubelet's image GC${mirrors.length ? '' : '; no runtime configuration is changed'}`),
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

function imageCell(node: NodeReport, name: string): string {
  const image = node.images.find((i) => i.name === name);
  if (!image) return node.error ? '✖ not done' : '- (other platform)';
  return `${isGood(image.outcome) ? '✔' : '✖'} ${image.outcome}${pinCell(image)}`;
}

function pinCell(image: NodeReport['images'][number]): string {
  if (image.pinned === undefined) return '';
  if (!image.pinned) return ', NOT pinned';
  return image.pinnedBy === 'read-only store' ? ', pinned (read-only store)' : ', pinned';
}

function smokeCell(node: NodeReport): string {
  if (!node.smoke) return node.error ? '✖ not done' : '-';
  return node.smoke.ok ? '✔ no pull' : '✖ failed';
}

/** Columns padded to their widest cell; the last one is not padded. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('   ').trimEnd());
}

/** Why a node needs a look though nothing failed: runtime settings that defeat air-gapped images, images GC may delete. */
function warningLines(node: NodeReport): string[] {
  return [
    ...(node.warnings ?? []).map((w) => `${node.node}: ${w.message}${w.hint ? `\n      Next: ${w.hint}` : ''}`),
    ...unpinnedImages(node).map((name) => `${node.node}: ${name} is not pinned: the kubelet's image GC may delete it once the image filesystem passes its high threshold, and an air-gapped node cannot pull it back (lading install pins it)`),
    // Slower, not wrong: exec was used because the faster way could not be.
    ...(node.transport?.transport === 'exec' && node.transport.reason && node.transport.reason !== '--transport exec'
      ? [`${node.node}: images streamed through exec, the slower way in, because ${node.transport.reason}\n      Next: allow the API server to reach pods in lading's namespace (pods/proxy, TCP ${RECEIVER_PORT}), or pass --transport exec to skip trying`]
      : []),
  ];
}

/** Check: what happened on the node since the install lading recorded there. */
function sinceInstallLine(node: NodeReport): string {
  const since = node.sinceInstall;
  if (!since) return `${node.node}: no install of this bundle recorded (installed by an older lading, by hand, or not at all)`;
  const parts = [
    since.rebooted ? `REBOOTED since the install of ${since.installedAt} (boot id ${since.bootIdThen} -> ${since.bootIdNow})` : `not rebooted since the install of ${since.installedAt}`,
    `${since.survived.length} survived`,
    ...(since.lost.length ? [`${since.lost.length} lost: ${since.lost.join(', ')}`] : []),
    ...(since.unpinned.length ? [`${since.unpinned.length} not pinned: ${since.unpinned.join(', ')}`] : []),
  ];
  return `${node.node}: ${parts.join('; ')}`;
}

/**
 * The install (or check) report: a status line, images x nodes (pinned or
 * not), then each problem, each warning, for a check what happened since the
 * install, for an install how each image was proven, and each file written.
 * The pod row is left out when no pod ran (a check).
 */
export function reportLines(report: InstallReport, { title, check = false }: { title?: string; check?: boolean } = {}): string[] {
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
      if (!isGood(image.outcome)) problems.push(`${node.node}: ${image.name} ${image.outcome}${image.detail ? ` (${image.detail})` : ''}`);
    }
    if (node.smoke && !node.smoke.ok) problems.push(`${node.node}: pods from ${node.smoke.image}: ${node.smoke.detail}`);
    for (const file of node.changedFiles) files.push(`${node.node}: ${file}`);
  }
  if (problems.length) lines.push('', 'Problems:', ...problems.map((p) => `  ✖ ${p}`));
  const warnings = report.nodes.flatMap(warningLines);
  if (warnings.length) lines.push('', 'Warnings:', ...warnings.map((w) => `  ! ${w}`));
  const checked = report.nodes.filter((n) => !n.error);
  if (check && checked.length) lines.push('', 'Since install:', ...checked.map((n) => `  ${sinceInstallLine(n)}`));
  const proofs = report.nodes.flatMap((node) =>
    node.images.filter((i) => i.proof).map((i) => (i.proof!.byPull ? `${node.node}  ${i.name}  pulled from the registry: ${i.proof!.byPull}` : `${node.node}  ${i.name}  by name: ${i.proof!.byName ?? '✖'}; by digest: ${i.proof!.byDigest ?? '✖'}`)),
  );
  if (report.registry) lines.push('', ...registryLines(report.registry));
  if (proofs.length) lines.push('', 'Proof (the kubelet\'s own signal that it found each image on the node, whatever the image then does):', ...proofs.map((p) => `  ${p}`));
  if (files.length) lines.push('', 'Files written (originals backed up on the node; lading install --restore puts them back):', ...files.map((f) => `  ${f}`));
  return lines.map(printableLines);
}

/** Registry mode's part of a report (install --registry, check --registry). */
export function registryLines(registry: RegistryReport): string[] {
  const push = registry.push;
  return [
    `Registry: ${registry.image} on ${registry.node}, nodes pull from ${registry.endpoint}`,
    ...(registry.health ? [`  its pod: ${registry.health.ready ? registry.health.detail : `NOT READY: ${registry.health.detail}`}`] : []),
    `  its image on the node: ${registry.bootstrap ? `${registry.bootstrap.outcome}${registry.bootstrap.pinnedBy ? `, pinned (${registry.bootstrap.pinnedBy})` : ', NOT pinned'}` : 'not checked'}`,
    ...(push ? [`  pushed through the API server: ${push.images} images, ${push.blobsUploaded} blobs sent (${push.bytesSent} bytes), ${push.blobsPresent} already there, ${push.manifestsPut} manifests, in ${(push.ms / 1000).toFixed(1)} s${push.resumed || push.restarted ? `; ${push.resumed} uploads resumed, ${push.restarted} restarted` : ''}`] : []),
    `  holds every image by digest and tag: ${registry.held ? (registry.held.ok ? 'yes' : `NO, missing ${registry.held.missing.join(', ')}`) : 'not checked'}`,
    ...(registry.injector
      ? [
          `  bootstrap: ConfigMap injector, ${registry.injector.configMaps} ConfigMaps (${formatBytes(registry.injector.bytes)}; injector ${formatBytes(registry.injector.injectorBytes)}, loader ${registry.injector.loaderBytes} B), serving after ${(registry.injector.injectorReadyMs / 1000).toFixed(1)} s, registry ready after ${(registry.injector.registryReadyMs / 1000).toFixed(1)} s`,
        ]
      : []),
    ...(registry.references?.length
      ? [
          `  pull by these references on every node (no node configuration)${registry.pullSecret ? `, with imagePullSecrets: [{name: ${registry.pullSecret}}] (copy the Secret to your workloads' namespaces)` : ''}:`,
          ...registry.references.map((r) => `    ${r.reference}    (${r.image})`),
        ]
      : []),
  ].map(printableLines);
}

/** `install --restore`, one line per node: what was put back and which pins were taken off. */
export function restoreLines(nodes: NodeReport[]): string[] {
  return nodes
    .map((n) => {
      if (n.error) return `${n.node}: ✖ ${n.error}`;
      const done = [...(n.changedFiles.length ? [`restored ${n.changedFiles.join(', ')}`] : []), ...(n.unpinned?.length ? [`unpinned ${n.unpinned.join(', ')}`] : [])];
      return `${n.node}: ${done.join('; ') || 'nothing to restore'}`;
    })
    .map(printableLines);
}
