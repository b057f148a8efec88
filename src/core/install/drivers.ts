/**
 * What install does on a node, per container runtime, behind one interface:
 * list what it holds (and whether the kubelet's image GC may take it), stream
 * in what it lacks, pin it, configure the runtime so images survive, restart
 * it when a changed file needs that. install-job.ts drives these without
 * knowing which runtime it talks to; containerd-driver.ts and crio-driver.ts
 * are the two runtimes.
 */
import type { BundleImage } from '../bundle/layout.js';
import type { BundleReader } from '../bundle/reader.js';
import type { NodeAgent } from '../cluster/agent.js';
import { AbortError, ExitCode } from '../errors.js';
import type { DiskSpace } from './disk-space.js';
import type { NodeFacts } from '../cluster/preflight.js';
import type { HostShell } from '../host.js';
import { readHostFile } from '../config/host-files.js';
import { restoreHostFiles, type RestoreOutcome } from '../config/host-restore.js';
import { dirOf } from '../config/host-paths.js';
import { CRIO_AUTH_DIRS, CRIO_AUTH_DROP_IN } from '../config/auth-json.js';
import { CRIO_DROP_IN, DEFAULT_CERTS_DIR, readContainerdRegistryConfig, type Mirror, type MirrorAuth } from '../config/mirrors.js';
import { DEFAULT_STORAGE_CONF } from '../runtimes/containers-storage.js';
import { containerdDriver, containerdMajor, DEFAULT_CONTAINERD_CONFIG } from './containerd-driver.js';
import { crioDriver } from './crio-driver.js';
import type { NodeConfig } from '../runtimes/node-config.js';

/** Who keeps an image from the kubelet's image GC: lading's pin, someone else's pin, or a read-only store GC cannot write to. */
export type PinnedBy = 'lading' | 'runtime' | 'read-only store';

export interface ListedImage {
  digest: string;
  pinnedBy?: PinnedBy;
}

/** Image name -> what the runtime holds under it. */
export type Listing = Map<string, ListedImage>;

export interface RuntimeDriver {
  /** For the report: runtime and where lading reached it. */
  description: string;
  list(): Promise<Listing>;
  /** Digests of the blobs the runtime holds where lading's imports land: a delta's import may leave those out. */
  blobs(): Promise<Set<string>>;
  /** Every name a pod may use for the image (tag, and on containerd `repo@digest`). */
  names(image: BundleImage): string[];
  /** Space on the filesystem where images land, if df tells. */
  diskSpace(): Promise<DiskSpace | undefined>;
  inject(reader: BundleReader, images: BundleImage[], platform: string, options: InjectOptions): Promise<void>;
  /** Pins these names against the kubelet's image GC (nothing to do where the store already keeps them). */
  pin(names: string[]): Promise<void>;
  /** Takes off every pin lading set; returns the names. */
  unpin(): Promise<string[]>;
  /** Configures the runtime: images kept across restarts, mirrors from the bundle; says what changed. */
  configure(mirrors: Mirror[]): Promise<ConfigureResult>;
  /** Makes changed configuration take effect. */
  restart(how: 'reload' | 'restart'): Promise<void>;
  /** CRI-O: whether an image is in the default store (which a wipe empties) and in lading's additional store. */
  placement?(name: string): Promise<{ inDefaultStore: boolean; inAdditionalStore: boolean }>;
}

export interface InjectOptions {
  onBytes: (n: number) => void;
  signal?: AbortSignal | undefined;
  /** A delta's layers: left out of the archive, the runtime holds them already. */
  omitted?: ReadonlySet<string>;
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

/** Whether the runtime holds the image under every name a pod may use, with the bundle's digest. */
export function holds(driver: Pick<RuntimeDriver, 'names'>, listing: Listing, image: BundleImage): boolean {
  return driver.names(image).every((name) => listing.get(name)?.digest === image.root.digest);
}

/** Who keeps the image from GC, when every name a pod may use is kept (undefined: some name is not). */
export function pinnedBy(driver: Pick<RuntimeDriver, 'names'>, listing: Listing, image: BundleImage): PinnedBy | undefined {
  const by = driver.names(image).map((name) => listing.get(name)?.pinnedBy);
  if (by.some((b) => b === undefined)) return undefined;
  return by.includes('lading') ? 'lading' : by[0];
}

/** The names of held images that are not pinned yet. */
export function namesToPin(driver: Pick<RuntimeDriver, 'names'>, listing: Listing, images: BundleImage[]): string[] {
  return images.filter((image) => holds(driver, listing, image)).flatMap((image) => driver.names(image).filter((name) => !listing.get(name)?.pinnedBy));
}

/** The node's runtime behind the driver interface; `config` is what the node's own configuration says (node-config.ts). */
export async function driverFor(agent: NodeAgent, facts: NodeFacts, options: DriverOptions, config: NodeConfig): Promise<RuntimeDriver> {
  if (facts.runtime === 'containerd') return containerdDriver(agent, facts, options, config);
  if (facts.runtime === 'cri-o') return crioDriver(agent, facts, options, config);
  throw new AbortError(`node ${facts.name}: runtime ${facts.runtimeVersion || 'unknown'} is not supported`, { exitCode: ExitCode.node });
}

/**
 * The directories lading writes into on this node, which are the only ones
 * `--restore` may touch: containerd's config directory and certs.d (the
 * default one and the one config.toml names), CRI-O's drop-in directory and
 * storage.conf's directory.
 */
export async function restorableDirs(shell: HostShell, facts: NodeFacts, options: DriverOptions): Promise<string[]> {
  const configFile = options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG;
  const dirs = [dirOf(configFile), DEFAULT_CERTS_DIR, dirOf(CRIO_DROP_IN), dirOf(options.storageConf ?? DEFAULT_STORAGE_CONF), ...CRIO_AUTH_DIRS];
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
  const restartFiles = [options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG, options.storageConf ?? DEFAULT_STORAGE_CONF, CRIO_AUTH_DROP_IN];
  if (paths.some((p) => restartFiles.includes(p))) return 'restart';
  if (paths.includes(CRIO_DROP_IN)) return 'reload';
  return 'none';
}
