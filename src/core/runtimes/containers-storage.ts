/**
 * CRI-O nodes: images go into a read-only additional image store of
 * containers-storage (default /var/lib/lading/images), loaded with the host's
 * own podman (or skopeo), and storage.conf lists that store, so CRI-O's wipe
 * of its default store after an unclean shutdown cannot take them.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parse } from 'smol-toml';
import { AbortError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';
import { DEFAULT_BACKUP_DIR, nodeSaid, readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { printable } from '../util/printable.js';
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
  /** CRI-O's own (default) store: the one its wipe empties. */
  defaultRoot: string;
}

export interface StoreOptions {
  root?: string;
  storageConf?: string;
  /** CRI-O's storage_driver and root when crio.conf sets them (they override storage.conf). */
  driver?: string;
  defaultRoot?: string;
}

export async function detectContainersStorage(shell: HostShell, options: StoreOptions = {}): Promise<ContainersStore> {
  const storageConf = options.storageConf ?? DEFAULT_STORAGE_CONF;
  const root = options.root ?? DEFAULT_IMAGE_STORE;
  const text = (await readHostFile(shell, storageConf)) ?? '';
  let driver = options.driver ?? 'overlay';
  let defaultRoot = options.defaultRoot ?? '/var/lib/containers/storage';
  try {
    const conf = parse(text) as { storage?: { driver?: unknown; graphroot?: unknown } };
    if (!options.driver && typeof conf.storage?.driver === 'string' && conf.storage.driver) driver = conf.storage.driver;
    if (!options.defaultRoot && typeof conf.storage?.graphroot === 'string' && conf.storage.graphroot) defaultRoot = conf.storage.graphroot;
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
  return { root, runroot: runrootFor(root), driver, tool: { kind, path }, storageConf, defaultRoot };
}

/** lading's run directory for a store it fills (state that a reboot may drop). */
export function runrootFor(root: string): string {
  return `/run/lading/${root.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
}

/** The containers-storage reference skopeo writes to. */
export function storageRef(store: Pick<ContainersStore, 'driver' | 'root' | 'runroot'>, name: string): string {
  return `containers-storage:[${store.driver}@${store.root}+${store.runroot}]${name}`;
}

function podman(store: ContainersStore, args: string): string {
  return `${shellQuote(store.tool.path)} --root ${shellQuote(store.root)} --runroot ${shellQuote(store.runroot)} --storage-driver ${shellQuote(store.driver)} ${args}`;
}


/** Where containers-storage keeps its list of images: written atomically by podman, skopeo and CRI-O alike. */
export function storeImagesFile(root: string, driver: string): string {
  return `${root.replace(/\/+$/, '')}/${driver}-images/images.json`;
}

/** One of containers-storage's JSON lists (images.json, layers.json), bounded; undefined when it is not a list. */
function storeList(text: string): unknown[] | undefined {
  try {
    const value = parseBoundedJson(Buffer.from(text, 'utf8'), { maxBytes: 64 << 20, maxValues: 4_000_000, maxDepth: 8 });
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Image name -> digest from a store's images.json: the digest podman shows,
 * the one the image was copied by (the source index or manifest digest).
 * Untagged images have no name and are left out. Undefined when the text is
 * not such a list.
 */
export function parseStoreImages(text: string): Map<string, string> | undefined {
  const value = storeList(text);
  if (!value) return undefined;
  const images = new Map<string, string>();
  for (const image of value as Array<{ names?: unknown; digest?: unknown }>) {
    const digest = image?.digest;
    if (typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest) || !Array.isArray(image.names)) continue;
    for (const name of image.names) if (typeof name === 'string' && name.length < 4096) images.set(name, digest);
  }
  return images;
}

/**
 * Image name -> digest of what a store holds, read from its images.json
 * rather than asked of a tool: skopeo cannot list a store, and reading takes
 * no lock from CRI-O. A store never written to holds nothing.
 */
export function listStoreAt(shell: HostShell, root: string, driver: string): Promise<Map<string, string>> {
  return readStoreList(shell, storeImagesFile(root, driver), 'image', parseStoreImages, () => new Map());
}

/** One of a store's JSON lists, parsed; a store never written to has none (`empty`). */
async function readStoreList<T>(shell: HostShell, file: string, what: string, parse: (text: string) => T | undefined, empty: () => T): Promise<T> {
  const text = await readHostFile(shell, file);
  if (text === undefined) return empty();
  const parsed = parse(text);
  if (!parsed) {
    throw new AbortError(`node ${shell.node}: ${printable(file)} is not a containers-storage ${what} list`, {
      exitCode: ExitCode.node,
      hint: 'Check the store on the node (podman --root DIR images); lading reads the list, it does not repair it.',
    });
  }
  return parsed;
}

/** Where containers-storage keeps its list of layers. */
export function storeLayersFile(root: string, driver: string): string {
  return `${root.replace(/\/+$/, '')}/${driver}-layers/layers.json`;
}

/**
 * The blob digests a store's layers were made from (`compressed-diff-digest`,
 * and `diff-digest` for layers shipped uncompressed): an import into this
 * store skips a blob it already has, so a delta may leave those out.
 * Undefined when the text is not such a list.
 */
export function parseStoreLayers(text: string): Set<string> | undefined {
  const value = storeList(text);
  if (!value) return undefined;
  const blobs = new Set<string>();
  for (const layer of value as Array<Record<string, unknown>>) {
    for (const key of ['compressed-diff-digest', 'diff-digest']) {
      const digest = layer?.[key];
      if (typeof digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(digest)) blobs.add(digest);
    }
  }
  return blobs;
}

/** The blobs lading's store holds layers of (see parseStoreLayers); a store never written to holds none. */
export function listStoreBlobs(shell: HostShell, store: Pick<ContainersStore, 'root' | 'driver'>): Promise<Set<string>> {
  return readStoreList(shell, storeLayersFile(store.root, store.driver), 'layer', parseStoreLayers, () => new Set());
}

/** Image name -> digest (the source index or manifest digest) of what lading's store holds. */
export function listStore(shell: HostShell, store: ContainersStore): Promise<Map<string, string>> {
  return listStoreAt(shell, store.root, store.driver);
}

/** A docker reference's path: lowercase components joined by '/', each alphanumerics with single separators. */
const REFERENCE_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * The shell script that loads a one-image OCI archive from stdin into the store, under `name`.
 *
 * With tar on the host, the archive is unpacked once into a directory beside the store (on the filesystem
 * the space check measured) and loaded from there. From an archive, podman and skopeo unpack it into a
 * temporary directory themselves, and podman first copies standard input to a file: two more copies of
 * every byte (1 GiB: 14.6-22 s through `podman load` from stdin, 7.7-9 s from the unpacked directory).
 * podman names an image loaded from a directory after its path (`localhost/<path>:latest`), so lading
 * tags it with its own name and takes that one off; a path podman cannot turn into a name (capitals in
 * --image-store), or an image named by digest (podman cannot tag by digest), loads from the archive as before. skopeo cannot read an archive from a pipe (it
 * resolves /dev/stdin to the pipe and fails), so without tar the archive lands in a file first.
 * The directory is removed whatever happens. `token`: lowercase letters and digits, unique per load.
 */
export function loadScript(store: ContainersStore, name: string, token: string): string {
  const parent = store.root.replace(/\/+$/, '').replace(/\/[^/]*$/, '');
  const dir = `${parent}/lading-load-${token}`;
  const layout = `${dir}/layout`;
  const loadedName = `localhost${layout}`;
  // podman tags only by tag: an image named by digest keeps the name its archive gives it
  const byPath = !name.includes('@') && REFERENCE_PATH.test(loadedName) && loadedName.length + ':latest'.length <= 255;
  const q = shellQuote;
  const unpacked =
    store.tool.kind === 'skopeo'
      ? [`${q(store.tool.path)} copy --quiet ${q(`oci:${layout}`)} ${q(storageRef(store, name))}`]
      : [
          `loaded=${q(`${loadedName}:latest`)}`,
          'store_podman load --quiet --input "$dir/layout" >/dev/null || exit $?',
          `trap 'store_podman untag "$loaded" "$loaded" >/dev/null 2>&1; rm -rf "$dir"' EXIT`,
          `store_podman tag "$loaded" ${q(name)}`,
        ];
  const archived =
    store.tool.kind === 'skopeo'
      ? ['cat > "$dir/archive.tar" || exit $?', `${q(store.tool.path)} copy --quiet "oci-archive:$dir/archive.tar:"${q(name)} ${q(storageRef(store, name))}`]
      : ['TMPDIR="$dir" store_podman load --quiet'];
  const useTar = store.tool.kind === 'skopeo' || byPath;
  return [
    `mkdir -p ${q(store.root)} || exit $?`,
    ...(store.tool.kind === 'podman' ? [`store_podman() { ${podman(store, '"$@"')}; }`] : []),
    `dir=${q(dir)}`,
    'mkdir -m 0700 "$dir" || exit $?',
    `trap 'rm -rf "$dir"' EXIT`,
    ...(useTar
      ? ['if command -v tar >/dev/null 2>&1; then', '  mkdir "$dir/layout" && tar -x -f - -C "$dir/layout" || exit $?', ...unpacked.map((l) => `  ${l}`), 'else', ...archived.map((l) => `  ${l}`), 'fi']
      : archived),
  ].join('\n');
}

/**
 * What the load's failure says. podman loading a directory tries every format it knows and lists each
 * failure, the OCI layout's first: that one is the cause, the others say only that it is no archive.
 */
export function podmanSaid(result: { stderr: string; message: string }): string {
  const oci = /^ \* oci: (.*)$/m.exec(result.stderr);
  return oci && result.stderr.includes('does not match any of the supported image formats') ? printable(`podman load: ${oci[1]!.slice(0, 500)}`) : nodeSaid(result);
}

/** Loads a one-image OCI archive from stdin into the store, under its name. */
export async function loadIntoStore(shell: HostShell, store: ContainersStore, name: string, archive: Readable, signal?: AbortSignal): Promise<void> {
  const result = await shell.hostExec(loadScript(store, name, randomBytes(8).toString('hex')), { stdin: archive, bulk: true, ...(signal ? { signal } : {}) });
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: loading ${name} into ${store.root} failed: ${podmanSaid(result)}`, {
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
