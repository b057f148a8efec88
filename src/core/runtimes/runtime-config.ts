/**
 * The settings of containerd and CRI-O that decide whether air-gapped images
 * stay usable, read from their own config files (paths from their command
 * lines, else the distribution's defaults). Pure: texts in, settings out; a
 * file that does not parse is reported, never guessed at.
 */
import { parse } from 'smol-toml';
import { flagValue } from './kubelet-config.js';

type Table = Record<string, unknown>;
const table = (v: unknown): Table | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Table) : undefined);
const str = (v: unknown) => (typeof v === 'string' && v.length < 4096 ? v : undefined);

function parseToml(text: string): Table | undefined {
  try {
    return parse(text) as Table;
  } catch {
    return undefined;
  }
}

/** The short flag or the long one, last one wins. */
function option(args: readonly string[], long: string, short: string): string | undefined {
  let value = flagValue(args, long);
  args.forEach((arg, i) => {
    if (arg === `-${short}` && i + 1 < args.length) value = args[i + 1];
  });
  return value;
}

export function containerdConfigPath(cmdline: readonly string[] | undefined, distribution: 'k3s' | 'rke2' | 'kubernetes'): { path: string; source: string } {
  const given = cmdline && option(cmdline.slice(1), 'config', 'c');
  if (given) return { path: given, source: 'containerd\'s command line' };
  if (distribution !== 'kubernetes') return { path: `/var/lib/rancher/${distribution}/agent/etc/containerd/config.toml`, source: `${distribution}'s default` };
  return { path: '/etc/containerd/config.toml', source: 'containerd\'s default' };
}

export interface ContainerdSettings {
  /** The file did not parse: nothing else here is known. */
  unreadable?: boolean;
  root?: string;
  socket?: string;
  sandboxImage?: string;
  discardUnpackedLayers?: boolean;
}

/** containerd's config.toml: version 2 (1.x, the grpc.v1.cri plugin) or 3 (2.x, cri.v1.images). */
export function containerdSettings(text: string | undefined): ContainerdSettings {
  if (text === undefined) return {};
  const conf = parseToml(text);
  if (!conf) return { unreadable: true };
  const plugins = table(conf['plugins']) ?? {};
  const v2 = table(plugins['io.containerd.grpc.v1.cri']);
  const v3 = table(plugins['io.containerd.cri.v1.images']);
  const discard = v3?.['discard_unpacked_layers'] ?? table(v2?.['containerd'])?.['discard_unpacked_layers'];
  const settings: ContainerdSettings = {};
  const root = str(conf['root']);
  const socket = str(table(conf['grpc'])?.['address']);
  const sandbox = str(table(v3?.['pinned_images'])?.['sandbox']) ?? str(v2?.['sandbox_image']);
  if (root) settings.root = root;
  if (socket) settings.socket = socket;
  if (sandbox) settings.sandboxImage = sandbox;
  if (typeof discard === 'boolean') settings.discardUnpackedLayers = discard;
  return settings;
}

export function crioConfigPaths(cmdline: readonly string[] | undefined): { file: string; dir: string } {
  const args = cmdline?.slice(1) ?? [];
  return { file: option(args, 'config', 'c') ?? '/etc/crio/crio.conf', dir: option(args, 'config-dir', 'd') ?? '/etc/crio/crio.conf.d' };
}

export interface CrioSettings {
  /** Files that did not parse. */
  unreadable: string[];
  /** Absent means CRI-O's default, which is true. */
  internalRepair?: boolean;
  pauseImage?: string;
  storageDriver?: string;
  root?: string;
  /** storage_option in crio.conf replaces storage.conf's options, additional image stores included. */
  storageOptions?: string[];
  /** [crio.image] global_auth_file: the credentials CRI-O pulls with. */
  globalAuthFile?: string;
  /** The file each setting came from. */
  sources: Partial<Record<'internalRepair' | 'pauseImage' | 'storageOptions' | 'globalAuthFile', string>>;
}

/** crio.conf and its drop-ins, in the order CRI-O reads them (later files override earlier ones). */
export function crioSettings(files: ReadonlyArray<{ path: string; text: string }>): CrioSettings {
  const settings: CrioSettings = { unreadable: [], sources: {} };
  for (const { path, text } of files) {
    const conf = parseToml(text);
    if (!conf) {
      settings.unreadable.push(path);
      continue;
    }
    const crio = table(conf['crio']) ?? {};
    if (typeof crio['internal_repair'] === 'boolean') {
      settings.internalRepair = crio['internal_repair'];
      settings.sources.internalRepair = path;
    }
    const pause = str(table(crio['image'])?.['pause_image']);
    if (pause) {
      settings.pauseImage = pause;
      settings.sources.pauseImage = path;
    }
    const authFile = str(table(crio['image'])?.['global_auth_file']);
    if (authFile !== undefined) {
      settings.globalAuthFile = authFile;
      settings.sources.globalAuthFile = path;
    }
    const driver = str(crio['storage_driver']);
    if (driver) settings.storageDriver = driver;
    const root = str(crio['root']);
    if (root) settings.root = root;
    const options = crio['storage_option'];
    if (Array.isArray(options)) {
      settings.storageOptions = options.filter((o): o is string => typeof o === 'string');
      settings.sources.storageOptions = path;
    }
  }
  return settings;
}
