/**
 * containerd on a node, driven through a node agent with the host's own ctr:
 * where its socket and ctr are (kubeadm, k3s, RKE2 layouts, or as given),
 * which images it holds, and importing an OCI archive streamed on stdin into
 * the `k8s.io` namespace the CRI plugin serves. ctr creates an image's name
 * only after all its content arrived, so an interrupted import leaves no
 * image half-present under its final name.
 */
import type { Readable } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import type { HostShell } from '../host.js';
import { shellQuote } from '../host.js';
import { nodeSaid } from '../config/host-files.js';
import { printable } from '../util/printable.js';

export const CRI_NAMESPACE = 'k8s.io';

export interface ContainerdOnNode {
  socket: string;
  ctr: string;
  /** Filesystem path whose free space bounds what can be imported. */
  root: string;
  /**
   * This ctr imports by itself (`images import --local`) instead of through containerd's transfer
   * service: twice as fast for the same result (1 GiB: 9-10 s against 19-22 s, containerd 2.2).
   * Older ctr have no such flag and always import by themselves.
   */
  importLocal?: boolean;
}

export interface ContainerdOverrides {
  socket?: string;
  ctr?: string;
}

export interface ContainerdHints extends ContainerdOverrides {
  /** Sockets the node's own configuration names (the kubelet's endpoint, containerd's grpc.address), each with where it was read. */
  discovered?: Array<{ path: string; source: string }>;
  /** The socket a kubeadm node announces. */
  announced?: string;
  /** containerd's root from its config. */
  root?: string;
  /** What was read to find those, for the message when nothing is found. */
  looked?: string[];
}

const SOCKETS = [
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/k3s/containerd/containerd.sock',
];
const CTRS = ['ctr', '/var/lib/rancher/rke2/bin/ctr', '/usr/local/bin/ctr', '/usr/bin/ctr'];
const ROOTS = ['/var/lib/rancher/k3s/agent/containerd', '/var/lib/rancher/rke2/agent/containerd', '/var/lib/containerd'];


/** The socket a kubeadm-style node announces (`unix:///run/containerd/containerd.sock`), if any. */
export function announcedSocket(annotations: Record<string, string> | undefined): string | undefined {
  const value = annotations?.['kubeadm.alpha.kubernetes.io/cri-socket'];
  if (!value) return undefined;
  return value.replace(/^unix:\/\//, '');
}

/**
 * containerd's socket, ctr and root on the node: what the flags say, else
 * what the node's configuration names (the kubelet's endpoint first), else
 * the kubeadm annotation, else the usual places; the first socket that exists wins.
 */
export async function detectContainerd(agent: HostShell, hints: ContainerdHints): Promise<ContainerdOnNode & { source: string }> {
  const candidates = [
    ...(hints.socket ? [{ path: hints.socket, source: '--containerd-socket' }] : []),
    ...(hints.discovered ?? []),
    ...(hints.announced ? [{ path: hints.announced, source: 'the kubeadm.alpha.kubernetes.io/cri-socket annotation' }] : []),
    ...SOCKETS.map((path) => ({ path, source: 'a usual place' })),
  ];
  const sockets = [...new Set(candidates.map((c) => c.path))];
  const ctrs = [hints.ctr, ...CTRS].filter((s): s is string => Boolean(s));
  const roots = [...new Set([hints.root, ...ROOTS].filter((s): s is string => Boolean(s)))];
  const script = [
    `for s in ${sockets.map(shellQuote).join(' ')}; do if [ -S "$s" ]; then echo "socket=$s"; break; fi; done`,
    // k3s keeps ctr under a versioned data dir.
    `for c in ${ctrs.map(shellQuote).join(' ')} /var/lib/rancher/k3s/data/*/bin/ctr; do p=$(command -v "$c" 2>/dev/null) && [ -x "$p" ] && { echo "ctr=$p"; "$p" images import --help 2>&1 | grep -q -e '--local' && echo "import-local=yes"; break; }; done`,
    `for r in ${roots.map(shellQuote).join(' ')}; do if [ -d "$r" ]; then echo "root=$r"; break; fi; done`,
  ].join('\n');
  const result = await agent.hostExec(script);
  const found = Object.fromEntries(
    result.stdout
      .split('\n')
      .map((line) => line.split('='))
      .filter((parts) => parts.length >= 2)
      .map(([key, ...rest]) => [key, rest.join('=')]),
  ) as Record<string, string>;
  if (!found.socket) {
    const kubelet = hints.discovered?.length ? `the node's configuration names ${hints.discovered.map((d) => `${d.path} (${d.source})`).join(', ')}` : `the kubelet's configuration names none (read ${hints.looked?.join(', ') || 'nothing'})`;
    throw new AbortError(`node ${agent.node}: no containerd socket found: none of ${sockets.map(printable).join(', ')} is a socket; ${printable(kubelet)}`, {
      exitCode: ExitCode.node,
      hint: 'Pass --containerd-socket PATH with the socket the kubelet uses.',
    });
  }
  if (!found.ctr) {
    throw new AbortError(`node ${agent.node}: no ctr binary found on the host (looked for ${ctrs.join(', ')}, k3s data dirs)`, {
      exitCode: ExitCode.node,
      hint: 'Pass --ctr PATH with the host path of ctr.',
    });
  }
  const source = candidates.find((c) => c.path === found.socket)?.source ?? 'a usual place';
  return { socket: found.socket, ctr: found.ctr, root: found.root ?? '/', importLocal: found['import-local'] === 'yes', source };
}

function ctr(runtime: ContainerdOnNode, args: string): string {
  return `${shellQuote(runtime.ctr)} --address ${shellQuote(runtime.socket)} --namespace ${CRI_NAMESPACE} ${args}`;
}

/** The label containerd's CRI reads as "pinned": the kubelet's image GC never deletes such an image (containerd >= 1.6.22 / 1.7.3). */
export const PINNED_LABEL = 'io.cri-containerd.pinned';
/** lading's own mark beside it, so --restore unpins only what lading pinned (never the sandbox image containerd pins itself). */
export const LADING_PIN_LABEL = 'lading.dev/pinned';

export interface ContainerdImage {
  digest: string;
  pinned: boolean;
  /** Pinned by lading (it carries lading's mark). */
  pinnedByLading: boolean;
}

const SECTION = '== lading:';

/** Image name -> target digest from `ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS). */
export function parseImageList(stdout: string): Map<string, string> {
  const images = new Map<string, string>();
  for (const line of stdout.split('\n').slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name && digest?.startsWith('sha256:')) images.set(name, digest);
  }
  return images;
}

/** The sections of listImages' script: the listing, then the names each label filter selected. */
export function parseListing(stdout: string): Map<string, ContainerdImage> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(SECTION)) sections.set(line.slice(SECTION.length).trim(), (current = []));
    else current?.push(line);
  }
  const names = (key: string) => new Set((sections.get(key) ?? []).map((l) => l.trim()).filter(Boolean));
  const pinned = names('pinned');
  const ladings = names('lading');
  const images = new Map<string, ContainerdImage>();
  for (const [name, digest] of parseImageList((sections.get('all') ?? []).join('\n'))) {
    images.set(name, { digest, pinned: pinned.has(name), pinnedByLading: ladings.has(name) && pinned.has(name) });
  }
  return images;
}

/** Every image containerd holds in the CRI namespace, with its digest and whether it is pinned (and by whom). */
export async function listImages(agent: HostShell, runtime: ContainerdOnNode): Promise<Map<string, ContainerdImage>> {
  const script = [
    `echo '${SECTION} all'`,
    `${ctr(runtime, 'images ls')} || exit $?`,
    `echo '${SECTION} pinned'`,
    `${ctr(runtime, `images ls -q ${shellQuote(`labels."${PINNED_LABEL}"==pinned`)}`)} || exit $?`,
    `echo '${SECTION} lading'`,
    `${ctr(runtime, `images ls -q ${shellQuote(`labels."${LADING_PIN_LABEL}"`)}`)} || exit $?`,
  ].join('\n');
  const result = await agent.hostExec(script);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: ctr images ls failed: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  return parseListing(result.stdout);
}

/** Digests of the blobs containerd's CRI namespace holds (`ctr content ls -q`): what a delta's import may leave out. */
export async function listBlobs(agent: HostShell, runtime: ContainerdOnNode): Promise<Set<string>> {
  const result = await agent.hostExec(ctr(runtime, 'content ls -q'));
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: ctr content ls failed: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  return parseDigestLines(result.stdout);
}

/** Every `sha256:<hex>` that stands alone on a line. */
export function parseDigestLines(stdout: string): Set<string> {
  return new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => /^sha256:[a-f0-9]{64}$/.test(l)));
}

/**
 * Pins images against the kubelet's image GC, with lading's mark beside the
 * pin. Only names not pinned yet are given: a pin someone else set stays theirs.
 */
export async function pinImages(agent: HostShell, runtime: ContainerdOnNode, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const script = names.map((name) => `${ctr(runtime, `images label ${shellQuote(name)} ${PINNED_LABEL}=pinned ${LADING_PIN_LABEL}=pinned`)} >/dev/null || exit $?`).join('\n');
  const result = await agent.hostExec(script);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: pinning images failed: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
}

/** Takes lading's pins off again (an empty value removes a label); returns the names unpinned. */
export async function unpinLadings(agent: HostShell, runtime: ContainerdOnNode): Promise<string[]> {
  const script = [
    `names=$(${ctr(runtime, `images ls -q ${shellQuote(`labels."${LADING_PIN_LABEL}"`)}`)}) || exit $?`,
    // The loop runs in a subshell: its exit status is the pipeline's.
    `printf '%s\\n' "$names" | while IFS= read -r name; do [ -n "$name" ] || continue; ${ctr(runtime, `images label "$name" ${PINNED_LABEL}= ${LADING_PIN_LABEL}=`)} >/dev/null || exit 1; printf '%s\\n' "$name"; done`,
  ].join('\n');
  const result = await agent.hostExec(script);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: unpinning lading's images failed: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  return result.stdout.split('\n').filter(Boolean);
}

/** Streams an OCI archive into `ctr images import -`; resolves once containerd has named every image in it. */
export async function importArchive(agent: HostShell, runtime: ContainerdOnNode, archive: Readable, signal?: AbortSignal): Promise<void> {
  const result = await agent.hostExec(ctr(runtime, runtime.importLocal ? 'images import --local -' : 'images import -'), { stdin: archive, bulk: true, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: ctr images import failed (exit ${result.exitCode}): ${nodeSaid(result)}`, {
      exitCode: ExitCode.node,
    });
  }
}
