/**
 * What a node's own configuration says about its runtime, read through the
 * agent in at most two round trips: the kubelet's settings (command line, or
 * the files systemd builds it from, then its --config file), and the
 * runtime's config files (paths from its command line, else defaults).
 * Agents do not share the host's PID namespace, but /proc seen through the
 * host's root is the host's own procfs, so command lines usually show; when
 * they do not, the files say the same.
 */
import type { HostShell } from '../host.js';
import { readHost, type HostReadRequest, type HostReading } from './host-read.js';
import { kubeletConfigPath, kubeletSettings, KUBELET_CONFIG_DEFAULT, type FlagSource, type KubeletSettings } from './kubelet-config.js';
import { containerdConfigPath, containerdSettings, crioConfigPaths, crioSettings, type ContainerdSettings, type CrioSettings } from './runtime-config.js';

/** Where kubeadm, distribution packages and systemd put the kubelet's flags. */
const KUBELET_FLAG_FILES = [
  '/var/lib/kubelet/kubeadm-flags.env',
  '/etc/default/kubelet',
  '/etc/sysconfig/kubelet',
  '/etc/systemd/system/kubelet.service',
  '/usr/lib/systemd/system/kubelet.service',
  '/lib/systemd/system/kubelet.service',
];
const KUBELET_DROP_IN_DIRS = ['/usr/lib/systemd/system/kubelet.service.d', '/lib/systemd/system/kubelet.service.d', '/etc/systemd/system/kubelet.service.d'];

export interface NodeConfig {
  kubelet: KubeletSettings;
  /** Everything read or looked for, for a message when nothing was found. */
  looked: string[];
  containerd?: { configPath: string; configSource: string; found: boolean; settings: ContainerdSettings };
  crio?: { files: string[]; settings: CrioSettings };
}

export interface NodeKind {
  runtime: 'containerd' | 'cri-o' | 'unknown';
  distribution: 'k3s' | 'rke2' | 'kubernetes';
}

function merge(a: HostReading, b: HostReading): HostReading {
  return { files: new Map([...a.files, ...b.files]), cmdlines: new Map([...a.cmdlines, ...b.cmdlines]), looked: [...a.looked, ...b.looked] };
}

/** The files that give the kubelet flags, in the order systemd applies them (drop-ins sorted, /etc last). */
function flagSources(reading: HostReading): FlagSource[] {
  const dropIns = [...reading.files.keys()].filter((p) => KUBELET_DROP_IN_DIRS.some((d) => p.startsWith(`${d}/`)));
  return [...KUBELET_FLAG_FILES.filter((p) => reading.files.has(p)), ...dropIns].map((path) => ({ path, text: reading.files.get(path)! }));
}

/** Reads and interprets the node's kubelet and runtime configuration. Changes nothing. */
export async function readNodeConfig(shell: HostShell, kind: NodeKind): Promise<NodeConfig> {
  const first: HostReadRequest = {
    processes: ['kubelet', 'containerd', 'crio'],
    paths: [KUBELET_CONFIG_DEFAULT, ...KUBELET_FLAG_FILES, ...(kind.runtime === 'containerd' ? [containerdConfigPath(undefined, kind.distribution).path] : []), ...(kind.runtime === 'cri-o' ? ['/etc/crio/crio.conf'] : [])],
    globs: [...KUBELET_DROP_IN_DIRS.map((dir) => ({ dir, pattern: '*.conf' as const })), ...(kind.runtime === 'cri-o' ? [{ dir: '/etc/crio/crio.conf.d', pattern: '*.conf' as const }] : [])],
  };
  let reading = await readHost(shell, first);
  const kubeletCmdline = reading.cmdlines.get('kubelet')?.slice(1);
  const sources = flagSources(reading);
  const configPath = kubeletConfigPath(kubeletCmdline, sources);
  const containerd = kind.runtime === 'containerd' ? containerdConfigPath(reading.cmdlines.get('containerd'), kind.distribution) : undefined;
  const crio = kind.runtime === 'cri-o' ? crioConfigPaths(reading.cmdlines.get('crio')) : undefined;

  // Second round only for paths the command lines named and the first round did not read.
  const read = new Set(first.paths);
  const more: HostReadRequest = {
    paths: [configPath, containerd?.path, crio?.file].filter((p): p is string => p !== undefined && !read.has(p)),
    globs: crio && crio.dir !== '/etc/crio/crio.conf.d' ? [{ dir: crio.dir, pattern: '*.conf' }] : [],
  };
  if (more.paths!.length || more.globs!.length) reading = merge(reading, await readHost(shell, more));

  const config = reading.files.get(configPath);
  const result: NodeConfig = {
    kubelet: kubeletSettings({ cmdline: kubeletCmdline, sources, config: config === undefined ? undefined : { path: configPath, text: config } }),
    looked: reading.looked,
  };
  if (containerd) {
    const text = reading.files.get(containerd.path);
    result.containerd = { configPath: containerd.path, configSource: containerd.source, found: text !== undefined, settings: containerdSettings(text) };
  }
  if (crio) {
    const files = [crio.file, ...[...reading.files.keys()].filter((p) => p.startsWith(`${crio.dir.replace(/\/+$/, '')}/`)).sort()].filter((p) => reading.files.has(p));
    result.crio = { files, settings: crioSettings(files.map((path) => ({ path, text: reading.files.get(path)! }))) };
  }
  return result;
}
