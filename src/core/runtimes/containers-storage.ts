/**
 * CRI-O nodes: images go into a read-only additional image store of
 * containers-storage (default /var/lib/lading/images), loaded with the host's
 * own podman (or skopeo), and storage.conf lists that store, so CRI-O's wipe
 * of its default store after an unclean shutdown cannot take them.
 */
import { randomBytes } from 'node:crypto';
import { parse } from 'smol-toml';
import { AbortError, BugError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';
import { DEFAULT_BACKUP_DIR, nodeSaid, readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { READY_MARKER, streamNodeArchive, type NodeArchivePlan } from '../bundle/node-archive.js';
import { OCI_INDEX_FILE } from '../bundle/layout.js';
import type { BundleReader } from '../bundle/reader.js';
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
  /** The host has tar: archives are unpacked once, beside the store (see loadScript). */
  tar: boolean;
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
  // Two questions at once: each is a round trip through the API server to the node.
  const [conf, found] = await Promise.all([
    readHostFile(shell, storageConf),
    shell.hostExec('for t in podman skopeo; do p=$(command -v "$t" 2>/dev/null) && { echo "$t=$p"; break; }; done; command -v tar >/dev/null 2>&1 && echo tar=yes'),
  ]);
  const text = conf ?? '';
  let driver = options.driver ?? 'overlay';
  let defaultRoot = options.defaultRoot ?? '/var/lib/containers/storage';
  try {
    const conf = parse(text) as { storage?: { driver?: unknown; graphroot?: unknown } };
    if (!options.driver && typeof conf.storage?.driver === 'string' && conf.storage.driver) driver = conf.storage.driver;
    if (!options.defaultRoot && typeof conf.storage?.graphroot === 'string' && conf.storage.graphroot) defaultRoot = conf.storage.graphroot;
  } catch {
    throw new AbortError(`node ${shell.node}: ${storageConf} is not valid TOML`, { exitCode: ExitCode.node });
  }
  const lines = found.stdout.trim().split('\n');
  const [kind, path] = (lines.find((line) => /^(podman|skopeo)=/.test(line)) ?? '').split('=');
  const tar = lines.includes('tar=yes');
  if ((kind !== 'podman' && kind !== 'skopeo') || !path) {
    throw new AbortError(`node ${shell.node}: neither podman nor skopeo is installed on the host, so lading cannot fill containers-storage`, {
      exitCode: ExitCode.node,
      hint: 'CRI-O hosts usually have podman or skopeo; install one of them on the node.',
    });
  }
  return { root, runroot: runrootFor(root), driver, tool: { kind, path }, tar, storageConf, defaultRoot };
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

/** A fresh directory per load beside the store, on the filesystem the space check measured. `token`: lowercase hex. */
function loadDir(store: Pick<ContainersStore, 'root'>, token: string): string {
  return `${store.root.replace(/\/+$/, '').replace(/\/[^/]*$/, '')}/lading-load-${token}`;
}

/** The name podman gives an image it takes from an OCI layout directory (tagged latest): its path, under localhost. */
const nameFromPath = (layout: string) => `localhost${layout}`;

/**
 * Whether this image can go into the store from an archive unpacked on the node, with others: tar is
 * there, and the tool can name the image. podman names an image taken from a directory after the
 * directory's path, which must then make a valid name (no capitals in --image-store), and lading
 * renames it, which podman cannot do to a name with a digest. skopeo is told the name; `oci:` takes the
 * path up to the first colon.
 */
export function loadsUnpacked(store: ContainersStore, name: string): boolean {
  if (!store.tar) return false;
  const layout = `${loadDir(store, '0'.repeat(16))}/layout`;
  if (store.tool.kind === 'skopeo') return !layout.includes(':');
  const byPath = nameFromPath(layout);
  return !name.includes('@') && REFERENCE_PATH.test(byPath) && byPath.length + ':latest'.length <= 255;
}

/** Whether these images go into the store together, from one archive unpacked on the node (see loadScript). */
export function loadsTogether(store: ContainersStore, names: readonly string[]): boolean {
  return names.length > 0 && names.every((name) => loadsUnpacked(store, name));
}

/**
 * The shell script that puts images into the store from one OCI archive on stdin.
 *
 * Where the images `loadsTogether`, the archive holds all of them with ready markers
 * (NodeArchiveOptions.readyMarkers): tar unpacks it as it arrives and names each entry it reaches, and
 * each time it names the n-th marker the n-th image is taken from the directory (podman: pulled from
 * `oci:DIR:NAME`, then given its name and the path's name taken off, also on failure; skopeo: copied
 * under its name) while the rest still streams. Otherwise the archive holds one image and goes to the
 * tool as an archive: podman and skopeo then unpack it into a temporary directory themselves, and
 * podman copies standard input to a file before that, two more copies of every byte (1 GiB: 14.6-22 s
 * through `podman load` from stdin, 7.7-9 s from the unpacked directory); skopeo cannot read an archive
 * from a pipe (it resolves /dev/stdin to the pipe and fails), so the archive lands in a file first.
 * Either way in the fresh directory beside the store, removed whatever happens.
 */
export function loadScript(store: ContainersStore, names: readonly string[], token: string): string {
  const q = shellQuote;
  const dir = loadDir(store, token);
  const layout = `${dir}/layout`;
  const together = loadsTogether(store, names);
  if (!together && names.length !== 1) throw new BugError(`an archive that is not unpacked holds one image, not ${names.length}`);
  const into = (name: string) => q(storageRef(store, name));
  const take = (name: string) =>
    store.tool.kind === 'skopeo'
      ? `${q(store.tool.path)} copy --quiet ${q(`oci:${layout}:${name}`)} ${into(name)}`
      : `store_podman pull --quiet ${q(`oci:${layout}:${name}`)} >/dev/null && store_podman tag "$loaded" ${q(name)} && store_podman untag "$loaded" "$loaded"`;
  const steps = together
    ? [
        'mkdir "$dir/layout" || exit $?',
        ...(store.tool.kind === 'podman'
          ? [`loaded=${q(`${nameFromPath(layout)}:latest`)}`, `trap 'store_podman untag "$loaded" "$loaded" >/dev/null 2>&1; rm -rf "$dir"' EXIT`]
          : []),
        'take() {',
        '  case $1 in',
        ...names.map((name, n) => `    ${n}) ${take(name)} ;;`),
        `    *) echo "unexpected entry in the archive: ${READY_MARKER}$1" >&2; return 1 ;;`,
        '  esac',
        '}',
        // tar's own status comes through the pipe as a last line; a name it reaches is printed as it
        // starts on that entry (GNU and busybox on stdout, bsdtar as "x NAME" on stderr).
        '{ tar -x -v -f - -C "$dir/layout" 2>&1; echo "lading-tar-exit $?"; } | {',
        '  taken=0',
        '  while IFS= read -r line; do',
        '    case $line in',
        `      ${READY_MARKER}*|"x ${READY_MARKER}"*) take "\${line##*${READY_MARKER}}" || exit $?; taken=$((taken + 1)) ;;`,
        `      'lading-tar-exit 0') [ "$taken" -eq ${names.length} ] && exit 0; echo "the archive ended after $taken of ${names.length} images" >&2; exit 1 ;;`,
        `      'lading-tar-exit '*) exit "\${line#lading-tar-exit }" ;;`,
        `      blobs/*|oci-layout|${OCI_INDEX_FILE}|"x "*) ;;`,
        `      *) printf '%s\\n' "$line" >&2 ;;`,
        '    esac',
        '  done',
        '  echo "tar ended without a status" >&2; exit 1',
        '}',
      ]
    : store.tool.kind === 'skopeo'
      ? ['cat > "$dir/archive.tar" || exit $?', `${q(store.tool.path)} copy --quiet "oci-archive:$dir/archive.tar:"${q(names[0]!)} ${into(names[0]!)}`]
      : ['TMPDIR="$dir" store_podman load --quiet'];
  return [
    `mkdir -p ${q(store.root)} || exit $?`,
    ...(store.tool.kind === 'podman' ? [`store_podman() { ${podman(store, '"$@"')}; }`] : []),
    `dir=${q(dir)}`,
    'mkdir -m 0700 "$dir" || exit $?',
    `trap 'rm -rf "$dir"' EXIT`,
    ...steps,
  ].join('\n');
}

/**
 * Loads the images of `plan` into the store, streamed out of the bundle: all of them from one archive
 * when they `loadsTogether`, else the one image the plan must then hold (see loadScript).
 */
export async function loadIntoStore(shell: HostShell, store: ContainersStore, reader: BundleReader, plan: NodeArchivePlan, options: LoadOptions = {}): Promise<void> {
  const names = plan.images.map(({ image }) => image.name);
  const script = loadScript(store, names, randomBytes(8).toString('hex'));
  const archive = streamNodeArchive(reader, plan, { digestNames: false, readyMarkers: loadsTogether(store, names), ...(options.onBytes ? { onBytes: options.onBytes } : {}) });
  const result = await shell.hostExec(script, { stdin: archive, bulk: true, ...(options.signal ? { signal: options.signal } : {}) });
  if (result.exitCode !== 0) {
    const what = names.length === 1 ? names[0] : `${names.length} images (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`;
    throw new AbortError(`node ${shell.node}: loading ${what} into ${store.root} failed: ${nodeSaid(result)}`, {
      exitCode: ExitCode.node,
    });
  }
}

export interface LoadOptions {
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/**
 * Lists the store in storage.conf's additionalimagestores (backing the file up
 * first). Returns whether the file changed: CRI-O reads it only at start.
 * `current`: the file's text where the caller has just read it (undefined: read here; '' stands for no file).
 */
export async function configureStore(shell: HostShell, store: ContainersStore, backupDir = DEFAULT_BACKUP_DIR, current?: string): Promise<boolean> {
  current ??= (await readHostFile(shell, store.storageConf)) ?? '';
  const edit = addAdditionalImageStore(current, store.root, `${shell.node}:${store.storageConf}`);
  if (!edit.changed) return false;
  await writeHostFileWithBackup(shell, store.storageConf, edit.text, backupDir);
  return true;
}
