/**
 * containerd nodes: `ctr import` into the CRI namespace, each image under its
 * tag and `repo@digest`, both pinned so the kubelet's image GC cannot take
 * them; mirrors through certs.d/hosts.toml (and config_path when missing).
 */
import type { BundleImage } from '../bundle/layout.js';
import { digestName, planNodeArchive, streamNodeArchive } from '../bundle/node-archive.js';
import type { NodeAgent } from '../cluster/agent.js';
import type { NodeFacts } from '../cluster/preflight.js';
import { AbortError, ExitCode } from '../errors.js';
import type { HostShell } from '../host.js';
import { readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { enableConfigPath, hostsTomlPath, mergeHostsToml, readContainerdRegistryConfig, type Mirror } from '../config/mirrors.js';
import { announcedSocket, detectContainerd, importArchive, listBlobs, listImages, pinImages, unpinLadings } from '../runtimes/containerd.js';
import { diskSpaceAt } from './disk-space.js';
import type { ConfigureResult, DriverOptions, Listing, RuntimeDriver } from './drivers.js';
import { systemctl } from './systemctl.js';
import type { NodeConfig } from '../runtimes/node-config.js';
import { socketPath } from '../runtimes/kubelet-config.js';

export const DEFAULT_CONTAINERD_CONFIG = '/etc/containerd/config.toml';

export const containerdMajor = (facts: NodeFacts) => Number(/containerd:\/\/v?(\d+)/.exec(facts.runtimeVersion)?.[1] ?? 1);

/** hosts.toml per mirrored registry, and config_path in config.toml if containerd does not read certs.d yet (exported for the host-side tests). */
export async function configureContainerdMirrors(agent: HostShell, facts: NodeFacts, mirrors: Mirror[], options: DriverOptions): Promise<ConfigureResult> {
  if (mirrors.length === 0) return { changed: [], apply: 'none' };
  if (facts.distribution !== 'kubernetes') {
    throw new AbortError(`node ${facts.name}: ${facts.distribution} takes registry mirrors from its registries.yaml, which lading does not write yet`, {
      exitCode: ExitCode.node,
      hint: 'Remove spec.mirrors for this cluster, or configure registries.yaml on the nodes by hand.',
    });
  }
  const configFile = options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG;
  const major = containerdMajor(facts);
  const changed: string[] = [];
  const configText = await readHostFile(agent, configFile);
  const enabled = enableConfigPath(configText, `${agent.node}:${configFile}`, major);
  if (enabled.changed) {
    await writeHostFileWithBackup(agent, configFile, enabled.text, options.backupDir);
    changed.push(configFile);
  }
  const certsDir = readContainerdRegistryConfig(enabled.text, configFile, major).configPath!;
  for (const mirror of mirrors) {
    const path = hostsTomlPath(certsDir, mirror.registry);
    const merged = mergeHostsToml(await readHostFile(agent, path), mirror, `${agent.node}:${path}`, options.mirrorAuth);
    if (merged.changed) {
      // Refused on the node if a link under certs.d leads elsewhere; mode 600 whenever the file sends headers.
      await writeHostFileWithBackup(agent, path, merged.text, options.backupDir, { secret: merged.secret, base: certsDir });
      changed.push(path);
    }
  }
  // hosts.toml files are read at each pull; only a new config_path needs a restart.
  return { changed, apply: changed.includes(configFile) ? 'restart' : 'none' };
}

/** The names a pod may use: the tag, and `repo@digest` (what the CRI looks a digest-pinned image up by). */
export function containerdNames(image: BundleImage): string[] {
  const byDigest = digestName(image);
  return byDigest ? [image.name, byDigest] : [image.name];
}

/** Sockets the node's configuration names: the kubelet's image and runtime endpoints, then containerd's own grpc.address. */
export function discoveredSockets(config: NodeConfig): Array<{ path: string; source: string }> {
  const { imageEndpoint, runtimeEndpoint } = config.kubelet;
  const found = [imageEndpoint, runtimeEndpoint].flatMap((s) => {
    const path = s && socketPath(s.value);
    return path ? [{ path, source: `the kubelet's ${s === imageEndpoint ? 'image' : 'runtime'} endpoint in ${s.source}` }] : [];
  });
  const own = config.containerd?.settings.socket;
  if (own) found.push({ path: own, source: `grpc.address in ${config.containerd!.configPath}` });
  return found;
}

export async function containerdDriver(agent: NodeAgent, facts: NodeFacts, options: DriverOptions, config: NodeConfig): Promise<RuntimeDriver> {
  const announced = announcedSocket(facts.node.metadata?.annotations);
  const root = config.containerd?.settings.root;
  const runtime = await detectContainerd(agent, {
    ...(options.containerdSocket ? { socket: options.containerdSocket } : {}),
    ...(options.ctr ? { ctr: options.ctr } : {}),
    ...(announced ? { announced } : {}),
    ...(root ? { root } : {}),
    discovered: discoveredSockets(config),
    looked: config.looked,
  });
  return {
    description: `${facts.runtimeVersion} (${runtime.socket}, from ${runtime.source}; ${runtime.importLocal ? 'ctr images import --local' : 'ctr images import'})`,
    list: async () => {
      const listing: Listing = new Map();
      for (const [name, image] of await listImages(agent, runtime)) {
        listing.set(name, { digest: image.digest, ...(image.pinned ? { pinnedBy: image.pinnedByLading ? 'lading' : 'runtime' } : {}) });
      }
      return listing;
    },
    blobs: () => listBlobs(agent, runtime),
    names: containerdNames,
    diskSpace: () => diskSpaceAt(agent, runtime.root),
    inject: (reader, images, platform, { onBytes, signal, omitted }) =>
      importArchive(agent, runtime, streamNodeArchive(reader, planNodeArchive(images, platform, omitted), { onBytes }), signal),
    pin: (names) => pinImages(agent, runtime, names),
    unpin: () => unpinLadings(agent, runtime),
    // Images in containerd's content store survive restarts as they are; only mirrors need configuring.
    configure: (mirrors) => configureContainerdMirrors(agent, facts, mirrors, options),
    restart: async () => systemctl(agent, 'restart', 'containerd', 'containerd'),
  };
}
