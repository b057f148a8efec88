/**
 * Registry mirrors for the nodes' runtimes, rendered from the spec:
 * containerd reads `certs.d/<registry>/hosts.toml` (when `config_path` is set
 * in its config.toml), CRI-O reads drop-ins under
 * /etc/containers/registries.conf.d. Existing files are merged, not replaced:
 * hosts already configured stay, lading's are added, and every result is
 * parsed again to prove that nothing else changed.
 */
import { AbortError, ExitCode } from '../errors.js';
import { checkMirror, isRegistryHost, Problems } from '../oci/validate.js';
import { printable } from '../util/printable.js';
import { parseNodeToml, plainData, sameToml, tomlString, type TomlTable } from './toml.js';
import { authorizationKey, authorizationOf, setHostAuthorization } from './host-header.js';
import { render } from './templates.js';

export interface Mirror {
  registry: string;
  endpoints: string[];
  skipVerify: boolean;
}

export const DEFAULT_CERTS_DIR = '/etc/containerd/certs.d';
export const CRIO_DROP_IN = '/etc/containers/registries.conf.d/50-lading-mirrors.conf';

type Table = TomlTable;

const shown = (value: string) => `"${printable(value.slice(0, 200))}"${value.length > 200 ? '…' : ''}`;

function badBundle(problems: string[]): AbortError {
  return new AbortError(`the bundle's registry mirrors cannot be used on a node: ${problems.join('; ')}`, {
    exitCode: ExitCode.bundle,
    hint: 'lading create writes only checked mirrors, so this bundle was changed or made by something else; create it again from its spec.',
  });
}

/**
 * A mirror from lading.json, checked again where its values become node
 * paths and TOML (the bundle reader checks it too): registry a host name,
 * endpoints plain http(s) URLs. Anything else is refused, never escaped.
 */
export function requireValidMirror(mirror: Mirror): Mirror {
  const problems = new Problems();
  const label = typeof mirror?.registry === 'string' && isRegistryHost(mirror.registry) ? `lading.json mirrors[${mirror.registry}]` : 'lading.json mirrors';
  const checked = checkMirror(mirror, label, problems);
  if (!checked) throw badBundle(problems.list);
  return checked;
}

/** The upstream a registry name stands for (Docker Hub's API host for docker.io). */
export function upstreamServer(registry: string): string {
  return registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
}

/** containerd's directory name for a registry: host:port works as it is; nothing else may become a path. */
export function hostsTomlPath(certsDir: string, registry: string): string {
  if (typeof registry !== 'string' || !isRegistryHost(registry)) {
    throw badBundle([`lading.json mirrors.registry: ${typeof registry === 'string' ? shown(registry) : 'a non-string'} is not a registry host such as docker.io or registry.lab:5000`]);
  }
  return `${certsDir.replace(/\/+$/, '')}/${registry}/hosts.toml`;
}

/** Authorization header values per mirror endpoint (`Basic ...`): secrets, written only into the file. */
export type MirrorAuth = ReadonlyMap<string, string>;

function hostSection(mirror: Mirror, endpoint: string, auth?: MirrorAuth): string {
  const header = auth?.get(endpoint);
  const options =
    (mirror.skipVerify ? '  skip_verify = true\n' : '') + (header ? `  [host.${tomlString(endpoint)}.header]\n    authorization = ${tomlString(header)}\n` : '');
  return block('containerd/host.toml', { endpoint: tomlString(endpoint), options });
}

/** A rendered fragment ends in exactly one newline, whatever its optional parts held. */
function block(name: string, values: Record<string, string>): string {
  return render(name, values).replace(/\n+$/, '\n');
}

export interface HostsTomlEdit {
  text: string;
  changed: boolean;
  /** The file sends headers (credentials): readable by root only. */
  secret: boolean;
}

const hostsOf = (conf: Table) => ((conf.host as Table | undefined) ?? {}) as Record<string, Table>;
const sendsHeaders = (conf: Table) => Object.values(hostsOf(conf)).some((h) => h && typeof h === 'object' && h.header !== undefined);

function parsesAs(text: string): Table | undefined {
  try {
    return parseNodeToml(text, '');
  } catch {
    return undefined;
  }
}

/**
 * A new hosts.toml, or lading's hosts added to an existing one (its own hosts
 * and server kept); an endpoint already there gets lading's Authorization
 * header when --mirror-auth has a different one for it, and nothing else changes.
 */
export function mergeHostsToml(existing: string | undefined, mirror: Mirror, file: string, auth?: MirrorAuth): HostsTomlEdit {
  const { registry, endpoints } = requireValidMirror(mirror);
  if (existing === undefined || existing.trim() === '') {
    const text = block('containerd/hosts.toml', {
      registry,
      server: tomlString(upstreamServer(registry)),
      hosts: endpoints.map((e) => hostSection(mirror, e, auth)).join('\n'),
    });
    return { text, changed: true, secret: endpoints.some((e) => auth?.has(e)) };
  }
  const before = parseNodeToml(existing, file);
  const hosts = hostsOf(before);
  const missing = endpoints.filter((e) => !(e in hosts));
  const stale = endpoints.filter((e) => e in hosts && auth?.has(e) && authorizationOf(hosts[e]) !== auth.get(e));
  if (missing.length === 0 && stale.length === 0) return { text: existing, changed: false, secret: sendsHeaders(before) };
  let text = existing;
  for (const e of stale) text = setHostAuthorization(text, e, auth!.get(e)!);
  if (missing.length) text = `${text.replace(/\n*$/, '\n')}\n${missing.map((e) => hostSection(mirror, e, auth)).join('\n')}`;
  const after = parsesAs(text);
  if (!after || !onlyLadingsChanges(before, after, missing, stale, auth)) {
    throw new AbortError(`${file}: could not ${missing.length ? "add lading's mirrors" : "update a mirror's credentials"} without changing what is there`, {
      exitCode: ExitCode.node,
      hint: missing.length
        ? `Add [host."${missing[0]}"] with capabilities = ["pull", "resolve"] by hand.`
        : `Set the authorization header of [host."${stale[0]}"] by hand (lading does not print credentials).`,
    });
  }
  return { text, changed: true, secret: sendsHeaders(after) };
}

/** `after` is `before` plus the missing hosts and the new Authorization values, and nothing else. */
function onlyLadingsChanges(before: Table, after: Table, missing: string[], stale: string[], auth: MirrorAuth | undefined): boolean {
  const expected = plainData(before);
  const got = plainData(after);
  const gotHosts = hostsOf(got);
  for (const e of missing) {
    if (!gotHosts[e]) return false;
    delete gotHosts[e];
  }
  if (!('host' in expected) && Object.keys(gotHosts).length === 0) delete got.host;
  for (const e of stale) {
    const host = hostsOf(expected)[e]!;
    const header = (host.header ?? {}) as Table;
    header[authorizationKey(header) ?? 'authorization'] = auth!.get(e);
    host.header = header;
  }
  return sameToml(expected, got);
}

/** The CRI-O drop-in: one [[registry]] per mirrored registry. lading owns this file. */
export function crioMirrorsDropIn(mirrors: Mirror[]): string {
  const registries = mirrors.map(requireValidMirror).map((m) => {
    const entries = m.endpoints.map((e) => {
      const url = new URL(e);
      const location = `${url.host}${url.pathname === '/' ? '' : url.pathname}`;
      const insecure = url.protocol === 'http:' || m.skipVerify;
      return block('crio/mirror.conf', { location: tomlString(location), options: insecure ? 'insecure = true\n' : '' });
    });
    return block('crio/registry.conf', { registry: tomlString(m.registry), mirrors: entries.join('\n') });
  });
  return block('crio/registries-mirrors.conf', { registries: registries.join('\n') });
}

export interface ContainerdRegistryConfig {
  /** config.toml's format: 2 (containerd 1.x) or 3 (2.x). */
  version: number;
  /** The certs.d directory containerd reads, when config_path is set. */
  configPath: string | undefined;
  /** Legacy `registry.mirrors` tables: containerd refuses config_path next to them. */
  legacyMirrors: boolean;
}

function criRegistryTable(conf: Table, version: number): Table | undefined {
  const plugins = conf.plugins as Table | undefined;
  const cri = version >= 3 ? (plugins?.['io.containerd.cri.v1.images'] as Table | undefined) : (plugins?.['io.containerd.grpc.v1.cri'] as Table | undefined);
  return cri?.registry as Table | undefined;
}

/** What a node's config.toml says about registries (absent file: containerd's defaults). */
export function readContainerdRegistryConfig(text: string | undefined, file: string, majorVersion: number): ContainerdRegistryConfig {
  const defaultVersion = majorVersion >= 2 ? 3 : 2;
  if (text === undefined || text.trim() === '') {
    // containerd 2.x reads /etc/containerd/certs.d by default; 1.x has no default.
    return { version: defaultVersion, configPath: majorVersion >= 2 ? DEFAULT_CERTS_DIR : undefined, legacyMirrors: false };
  }
  const conf = parseNodeToml(text, file);
  const version = typeof conf.version === 'number' ? conf.version : 1;
  const registry = criRegistryTable(conf, version);
  const path = typeof registry?.config_path === 'string' && registry.config_path !== '' ? registry.config_path.split(':')[0] : undefined;
  return {
    version,
    configPath: path ?? (version >= 3 && registry?.config_path === undefined ? DEFAULT_CERTS_DIR : undefined),
    legacyMirrors: Boolean(registry?.mirrors && Object.keys(registry.mirrors as Table).length),
  };
}

/** Sets config_path in config.toml (a new table appended, checked by parsing again). */
export function enableConfigPath(text: string | undefined, file: string, majorVersion: number, certsDir = DEFAULT_CERTS_DIR): { text: string; changed: boolean } {
  const current = readContainerdRegistryConfig(text, file, majorVersion);
  if (current.configPath) return { text: text ?? '', changed: false };
  if (current.legacyMirrors) {
    throw new AbortError(`${file} configures registry.mirrors, which containerd does not allow together with config_path`, {
      exitCode: ExitCode.node,
      hint: 'Move those mirrors to hosts.toml files (or let lading write them), remove registry.mirrors, then run install again.',
    });
  }
  const table = current.version >= 3 ? 'plugins."io.containerd.cri.v1.images".registry' : 'plugins."io.containerd.grpc.v1.cri".registry';
  const base = text === undefined || text.trim() === '' ? `version = ${current.version}\n` : text.replace(/\n*$/, '\n');
  const result = base + block('containerd/config-path.toml', { table, certsDir: tomlString(certsDir) });
  const after = readContainerdRegistryConfig(result, file, majorVersion);
  if (after.configPath !== certsDir) {
    throw new AbortError(`${file}: could not enable config_path safely (the registry table may be defined in another form)`, {
      exitCode: ExitCode.node,
      hint: `Set config_path = "${certsDir}" under [${table}] by hand.`,
    });
  }
  return { text: result, changed: true };
}
