/**
 * What install does on a node, per container runtime: list what it holds,
 * stream in what it lacks, configure it so images survive, restart it when a
 * changed file needs that. install-job.ts drives these without knowing which
 * runtime it talks to.
 */
import type { BundleImage } from '../bundle/layout.js';
import type { BundleReader } from '../bundle/reader.js';
import { digestName, planNodeArchive, streamNodeArchive } from '../bundle/node-archive.js';
import type { NodeAgent } from '../cluster/agent.js';
import { AbortError, ExitCode } from '../errors.js';
import { announcedSocket, detectContainerd, importArchive, listImages } from '../runtimes/containerd.js';
import { diskSpaceAt, type DiskSpace } from './disk-space.js';
import { configureStore, detectContainersStorage, listStore, loadIntoStore } from '../runtimes/containers-storage.js';
import type { NodeFacts } from '../cluster/preflight.js';
import type { HostShell } from '../host.js';
import { readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { restoreHostFiles, type RestoreOutcome } from '../config/host-restore.js';
import { dirOf } from '../config/host-paths.js';
import { CRIO_DROP_IN, DEFAULT_CERTS_DIR, crioMirrorsDropIn, enableConfigPath, hostsTomlPath, mergeHostsToml, readContainerdRegistryConfig, type Mirror, type MirrorAuth } from '../config/mirrors.js';
import { DEFAULT_STORAGE_CONF } from '../runtimes/containers-storage.js';

async function systemctl(shell: HostShell, how: 'reload' | 'restart', unit: string, label: string): Promise<void> {
  const result = await shell.hostExec(`if command -v systemctl >/dev/null 2>&1; then systemctl ${how} ${unit}; else echo "no systemctl on the host" >&2; exit 3; fi`);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: ${how} of ${label} failed: ${(result.stderr || result.message).trim()}`, {
      exitCode: ExitCode.node,
      hint: `The configuration is written (backups under /var/lib/lading/backups); ${how} ${label} on the node by hand.`,
    });
  }
}

const DEFAULT_CONTAINERD_CONFIG = '/etc/containerd/config.toml';

const containerdMajor = (facts: NodeFacts) => Number(/containerd:\/\/v?(\d+)/.exec(facts.runtimeVersion)?.[1] ?? 1);

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

export interface RuntimeDriver {
  /** For the report: runtime and where lading reached it. */
  description: string;
  /** Image name -> digest, as the runtime resolves names. */
  list(): Promise<Map<string, string>>;
  /** Whether a listing holds the image under every name a pod may use. */
  holds(listing: Map<string, string>, image: BundleImage): boolean;
  /** Space on the filesystem where images land, if df tells. */
  diskSpace(): Promise<DiskSpace | undefined>;
  inject(reader: BundleReader, images: BundleImage[], platform: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<void>;
  /** Configures the runtime: images kept across restarts, mirrors from the bundle; says what changed. */
  configure(mirrors: Mirror[]): Promise<ConfigureResult>;
  /** Makes changed configuration take effect. */
  restart(how: 'reload' | 'restart'): Promise<void>;
}

export interface ConfigureResult {
  /** Host files written (each backed up first). */
  changed: string[];
  /** What the runtime needs for the changes to take effect. */
  apply: 'none' | 'reload' | 'restart';
}

export interface DriverOptions {
  /** Authorization header per mirror endpoint URL (from --mirror-auth); never logged. */
  mirrorAuth?: MirrorAuth;
  containerdSocket?: string;
  /** containerd's config.toml on the nodes. */
  containerdConfig?: string;
  ctr?: string;
  imageStore?: string;
  storageConf?: string;
  backupDir?: string;
}

export async function driverFor(agent: NodeAgent, facts: NodeFacts, options: DriverOptions): Promise<RuntimeDriver> {
  if (facts.runtime === 'containerd') return containerdDriver(agent, facts, options);
  if (facts.runtime === 'cri-o') return crioDriver(agent, facts, options);
  throw new AbortError(`node ${facts.name}: runtime ${facts.runtimeVersion || 'unknown'} is not supported`, { exitCode: ExitCode.node });
}

async function containerdDriver(agent: NodeAgent, facts: NodeFacts, options: DriverOptions): Promise<RuntimeDriver> {
  const announced = announcedSocket(facts.node.metadata?.annotations);
  const runtime = await detectContainerd(agent, {
    ...(options.containerdSocket ? { socket: options.containerdSocket } : {}),
    ...(options.ctr ? { ctr: options.ctr } : {}),
    ...(announced ? { announced } : {}),
  });
  return {
    description: `${facts.runtimeVersion} (${runtime.socket})`,
    list: () => listImages(agent, runtime),
    holds: (listing, image) => {
      const pinned = digestName(image);
      return listing.get(image.name) === image.root.digest && (pinned === undefined || listing.get(pinned) === image.root.digest);
    },
    diskSpace: () => diskSpaceAt(agent, runtime.root),
    inject: (reader, images, platform, onBytes, signal) =>
      importArchive(agent, runtime, streamNodeArchive(reader, planNodeArchive(images, platform), { onBytes }), signal),
    // Images in containerd's content store survive restarts as they are; only mirrors need configuring.
    configure: (mirrors) => configureContainerdMirrors(agent, facts, mirrors, options),
    restart: async () => systemctl(agent, 'restart', 'containerd', 'containerd'),
  };
}

async function crioDriver(agent: NodeAgent, facts: NodeFacts, options: DriverOptions): Promise<RuntimeDriver> {
  const store = await detectContainersStorage(agent, {
    ...(options.imageStore ? { root: options.imageStore } : {}),
    ...(options.storageConf ? { storageConf: options.storageConf } : {}),
  });
  return {
    description: `${facts.runtimeVersion} (additional image store ${store.root}, ${store.tool.kind})`,
    list: () => listStore(agent, store),
    holds: (listing, image) => listing.get(image.name) === image.root.digest,
    diskSpace: () => diskSpaceAt(agent, store.root),
    inject: async (reader, images, platform, onBytes, signal) => {
      // podman and skopeo read one image per archive.
      for (const image of images) {
        const plan = planNodeArchive([image], platform);
        await loadIntoStore(agent, store, image.name, streamNodeArchive(reader, plan, { onBytes, digestNames: false }), signal);
      }
    },
    configure: async (mirrors) => {
      const changed: string[] = [];
      // storage.conf is read only when CRI-O starts; registries.conf.d drop-ins on reload (SIGHUP).
      if (await configureStore(agent, store, options.backupDir)) changed.push(store.storageConf);
      let reload = false;
      if (mirrors.some((m) => m.endpoints.some((e) => options.mirrorAuth?.has(e)))) {
        throw new AbortError(`node ${agent.node}: mirror credentials for CRI-O nodes are not written by lading yet`, {
          exitCode: ExitCode.node,
          hint: 'Put them in CRI-O\'s global_auth_file on the node by hand, and run install without --mirror-auth.',
        });
      }
      if (mirrors.length) {
        const text = crioMirrorsDropIn(mirrors);
        if ((await readHostFile(agent, CRIO_DROP_IN)) !== text) {
          await writeHostFileWithBackup(agent, CRIO_DROP_IN, text, options.backupDir, { base: dirOf(CRIO_DROP_IN) });
          changed.push(CRIO_DROP_IN);
          reload = true;
        }
      }
      return { changed, apply: changed.includes(store.storageConf) ? 'restart' : reload ? 'reload' : 'none' };
    },
    restart: async (how) => systemctl(agent, how, 'crio', 'CRI-O'),
  };
}

/**
 * The directories lading writes into on this node, which are the only ones
 * `--restore` may touch: containerd's config directory and certs.d (the
 * default one and the one config.toml names), CRI-O's drop-in directory and
 * storage.conf's directory.
 */
export async function restorableDirs(shell: HostShell, facts: NodeFacts, options: DriverOptions): Promise<string[]> {
  const configFile = options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG;
  const dirs = [dirOf(configFile), DEFAULT_CERTS_DIR, dirOf(CRIO_DROP_IN), dirOf(options.storageConf ?? DEFAULT_STORAGE_CONF)];
  if (facts.runtime === 'containerd') {
    try {
      const certsDir = readContainerdRegistryConfig(await readHostFile(shell, configFile), configFile, containerdMajor(facts)).configPath;
      if (certsDir) dirs.push(certsDir);
    } catch {
      // An unreadable config.toml: only the default certs.d then.
    }
  }
  return dirs;
}

/** `--restore` on one node: what lading recorded there, within the directories it writes into. */
export async function restoreRuntimeFiles(shell: HostShell, facts: NodeFacts, options: DriverOptions): Promise<RestoreOutcome> {
  return restoreHostFiles(shell, { ...(options.backupDir ? { backupDir: options.backupDir } : {}), allowedDirs: await restorableDirs(shell, facts, options) });
}

/** What restoring these files needs from the runtime: config.toml and storage.conf are read at start only. */
export function applyAfterRestore(paths: string[], options: DriverOptions): 'none' | 'reload' | 'restart' {
  const restartFiles = [options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG, options.storageConf ?? '/etc/containers/storage.conf'];
  if (paths.some((p) => restartFiles.includes(p))) return 'restart';
  if (paths.includes(CRIO_DROP_IN)) return 'reload';
  return 'none';
}
