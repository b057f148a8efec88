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

export const CRI_NAMESPACE = 'k8s.io';

export interface ContainerdOnNode {
  socket: string;
  ctr: string;
  /** Filesystem path whose free space bounds what can be imported. */
  root: string;
}

export interface ContainerdOverrides {
  socket?: string;
  ctr?: string;
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

export async function detectContainerd(agent: HostShell, hints: ContainerdOverrides & { announced?: string }): Promise<ContainerdOnNode> {
  const sockets = [hints.socket, hints.announced, ...SOCKETS].filter((s): s is string => Boolean(s));
  const ctrs = [hints.ctr, ...CTRS].filter((s): s is string => Boolean(s));
  const script = [
    `for s in ${sockets.map(shellQuote).join(' ')}; do if [ -S "$s" ]; then echo "socket=$s"; break; fi; done`,
    // k3s keeps ctr under a versioned data dir.
    `for c in ${ctrs.map(shellQuote).join(' ')} /var/lib/rancher/k3s/data/*/bin/ctr; do p=$(command -v "$c" 2>/dev/null) && [ -x "$p" ] && { echo "ctr=$p"; break; }; done`,
    `for r in ${ROOTS.map(shellQuote).join(' ')}; do if [ -d "$r" ]; then echo "root=$r"; break; fi; done`,
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
    throw new AbortError(`node ${agent.node}: no containerd socket found (looked at ${sockets.join(', ')})`, {
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
  return { socket: found.socket, ctr: found.ctr, root: found.root ?? '/' };
}

function ctr(runtime: ContainerdOnNode, args: string): string {
  return `${shellQuote(runtime.ctr)} --address ${shellQuote(runtime.socket)} --namespace ${CRI_NAMESPACE} ${args}`;
}

/** Image name -> target digest, as containerd holds them in the CRI namespace. */
export async function listImages(agent: HostShell, runtime: ContainerdOnNode): Promise<Map<string, string>> {
  const result = await agent.hostExec(ctr(runtime, 'images ls'));
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: ctr images ls failed: ${(result.stderr || result.message).trim()}`, { exitCode: ExitCode.node });
  }
  const images = new Map<string, string>();
  for (const line of result.stdout.split('\n').slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name && digest?.startsWith('sha256:')) images.set(name, digest);
  }
  return images;
}

/** Free bytes on the filesystem holding containerd's root. */
/** Streams an OCI archive into `ctr images import -`; resolves once containerd has named every image in it. */
export async function importArchive(agent: HostShell, runtime: ContainerdOnNode, archive: Readable, signal?: AbortSignal): Promise<void> {
  const result = await agent.hostExec(ctr(runtime, 'images import -'), { stdin: archive, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${agent.node}: ctr images import failed (exit ${result.exitCode}): ${(result.stderr || result.message).trim().slice(-500)}`, {
      exitCode: ExitCode.node,
    });
  }
}
