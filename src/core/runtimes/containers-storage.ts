/**
 * CRI-O nodes: images go into a read-only additional image store of
 * containers-storage (default /var/lib/lading/images), loaded with the host's
 * own podman (or skopeo), and storage.conf lists that store, so CRI-O's wipe
 * of its default store after an unclean shutdown cannot take them.
 */
import type { Readable } from 'node:stream';
import { parse } from 'smol-toml';
import { AbortError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';
import { DEFAULT_BACKUP_DIR, readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { DEFAULT_IMAGE_STORE, addAdditionalImageStore } from '../config/storage-conf.js';

export const DEFAULT_STORAGE_CONF = '/etc/containers/storage.conf';

export interface ContainersStore {
  /** The additional image store lading fills. */
  root: string;
  runroot: string;
  /** Must be the driver CRI-O uses (storage.conf's), or CRI-O cannot read the store. */
  driver: string;
  tool: { kind: 'podman' | 'skopeo'; path: string };
  storageConf: string;
}

export interface StoreOptions {
  root?: string;
  storageConf?: string;
}

export async function detectContainersStorage(shell: HostShell, options: StoreOptions = {}): Promise<ContainersStore> {
  const storageConf = options.storageConf ?? DEFAULT_STORAGE_CONF;
  const root = options.root ?? DEFAULT_IMAGE_STORE;
  const text = (await readHostFile(shell, storageConf)) ?? '';
  let driver = 'overlay';
  try {
    const conf = parse(text) as { storage?: { driver?: string } };
    if (conf.storage?.driver) driver = conf.storage.driver;
  } catch {
    throw new AbortError(`node ${shell.node}: ${storageConf} is not valid TOML`, { exitCode: ExitCode.node });
  }
  const found = await shell.hostExec('for t in podman skopeo; do p=$(command -v "$t" 2>/dev/null) && { echo "$t=$p"; break; }; done');
  const [kind, path] = found.stdout.trim().split('=');
  if ((kind !== 'podman' && kind !== 'skopeo') || !path) {
    throw new AbortError(`node ${shell.node}: neither podman nor skopeo is installed on the host, so lading cannot fill containers-storage`, {
      exitCode: ExitCode.node,
      hint: 'CRI-O hosts usually have podman or skopeo; install one of them on the node.',
    });
  }
  return { root, runroot: `/run/lading/${root.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '')}`, driver, tool: { kind, path }, storageConf };
}

function podman(store: ContainersStore, args: string): string {
  return `${shellQuote(store.tool.path)} --root ${shellQuote(store.root)} --runroot ${shellQuote(store.runroot)} --storage-driver ${shellQuote(store.driver)} ${args}`;
}

function storageRef(store: ContainersStore, name: string): string {
  return `containers-storage:[${store.driver}@${store.root}+${store.runroot}]${name}`;
}

/** Image name -> digest (the source index or manifest digest) of what the store holds. */
export async function listStore(shell: HostShell, store: ContainersStore): Promise<Map<string, string>> {
  const images = new Map<string, string>();
  if (store.tool.kind !== 'podman') {
    // skopeo cannot list a store; each image is checked with inspect instead (see hasImage).
    return images;
  }
  const result = await shell.hostExec(`mkdir -p ${shellQuote(store.root)} && ${podman(store, "images --format '{{.Repository}}:{{.Tag}} {{.Digest}}'")}`);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: listing ${store.root} failed: ${(result.stderr || result.message).trim()}`, { exitCode: ExitCode.node });
  }
  for (const line of result.stdout.split('\n')) {
    const [name, digest] = line.trim().split(/\s+/);
    if (name && digest?.startsWith('sha256:') && !name.startsWith('<none>')) images.set(name, digest);
  }
  return images;
}

/** Loads a one-image OCI archive from stdin into the store, under its name. */
export async function loadIntoStore(shell: HostShell, store: ContainersStore, name: string, archive: Readable, signal?: AbortSignal): Promise<void> {
  const script =
    store.tool.kind === 'podman'
      ? `mkdir -p ${shellQuote(store.root)} && ${podman(store, 'load')}`
      : `mkdir -p ${shellQuote(store.root)} && ${shellQuote(store.tool.path)} copy --quiet oci-archive:/dev/stdin:${shellQuote(name)} ${shellQuote(storageRef(store, name))}`;
  const result = await shell.hostExec(script, { stdin: archive, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: loading ${name} into ${store.root} failed: ${(result.stderr || result.message).trim().slice(-500)}`, {
      exitCode: ExitCode.node,
    });
  }
}

/**
 * Lists the store in storage.conf's additionalimagestores (backing the file up
 * first). Returns whether the file changed: CRI-O reads it only at start.
 */
export async function configureStore(shell: HostShell, store: ContainersStore, backupDir = DEFAULT_BACKUP_DIR): Promise<boolean> {
  const current = (await readHostFile(shell, store.storageConf)) ?? '';
  const edit = addAdditionalImageStore(current, store.root, `${shell.node}:${store.storageConf}`);
  if (!edit.changed) return false;
  await writeHostFileWithBackup(shell, store.storageConf, edit.text, backupDir);
  return true;
}
