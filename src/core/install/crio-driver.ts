/**
 * CRI-O nodes: each image loaded with the host's podman or skopeo into a
 * read-only additional image store that storage.conf lists. CRI-O's wipe of
 * its default store after an unclean shutdown does not touch it, and the
 * kubelet's image GC cannot delete from it: the store itself pins.
 */
import { planNodeArchive } from '../bundle/node-archive.js';
import type { NodeAgent } from '../cluster/agent.js';
import type { NodeFacts } from '../cluster/preflight.js';
import { AbortError, ExitCode } from '../errors.js';
import { readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { dirOf } from '../config/host-paths.js';
import { CRIO_DROP_IN, crioMirrorsDropIn } from '../config/mirrors.js';
import { CRIO_AUTH_DIRS, CRIO_AUTH_DROP_IN, CRIO_AUTH_FILE, crioAuthDropIn, mergeAuthJson } from '../config/auth-json.js';
import type { CrioSettings } from '../runtimes/runtime-config.js';
import { configureStore, detectContainersStorage, listStore, listStoreAt, listStoreBlobs, loadIntoStore, loadsUnpacked, storeImagesFile } from '../runtimes/containers-storage.js';
import type { BundleImage } from '../bundle/layout.js';
import { shellQuote } from '../host.js';
import type { NodeConfig } from '../runtimes/node-config.js';
import { diskSpaceAt } from './disk-space.js';
import type { DriverOptions, InjectOptions, Listing, RuntimeDriver } from './drivers.js';
import type { BundleReader } from '../bundle/reader.js';
import { systemctl } from './systemctl.js';

/** Images per stream when they go in together: the script names each, and one stream's unpacked copy stays bounded. */
const LOAD_BATCH = 50;

export async function crioDriver(agent: NodeAgent, facts: NodeFacts, options: DriverOptions, config: NodeConfig): Promise<RuntimeDriver> {
  const crio = config.crio?.settings;
  const store = await detectContainersStorage(agent, {
    ...(options.imageStore ? { root: options.imageStore } : {}),
    ...(options.storageConf ? { storageConf: options.storageConf } : {}),
    ...(crio?.storageDriver ? { driver: crio.storageDriver } : {}),
    ...(crio?.root ? { defaultRoot: crio.root } : {}),
  });
  // The store's list, read once for the questions asked before lading next writes to the store (the trap
  // check's placement and the listing that decides what is sent come a moment apart; a host script on a
  // CRI-O node costs about 0.2 s).
  let stored: Promise<Map<string, string>> | undefined;
  const storeList = () =>
    (stored ??= listStore(agent, store).catch((error: unknown) => {
      stored = undefined;
      throw error;
    }));
  const load = async (reader: BundleReader, images: BundleImage[], platform: string, { onBytes, signal, omitted }: InjectOptions) => {
    // Each archive leaves out the layers the store lists (containers-storage reuses them): a delta's base,
    // and layers an image shares with one loaded before it, so a shared base crosses the wire once.
    const leaveOut = new Set([...(omitted ?? []), ...(await listStoreBlobs(agent, store))]);
    const loadBatch = async (batch: BundleImage[]) => {
      const plan = planNodeArchive(batch, platform, leaveOut);
      await loadIntoStore(agent, store, reader, plan, { onBytes, signal });
      for (const { platform: chosen } of plan.images) for (const layer of chosen.layers) leaveOut.add(layer.digest);
    };
    // Images the node can take from one unpacked archive go in batches, one stream each; the others
    // (no tar on the host, or a name podman cannot give) one archive per image.
    const together = images.filter((image) => loadsUnpacked(store, image.name));
    for (let i = 0; i < together.length; i += LOAD_BATCH) await loadBatch(together.slice(i, i + LOAD_BATCH));
    for (const image of images.filter((image) => !together.includes(image))) await loadBatch([image]);
  };
  return {
    description: `${facts.runtimeVersion} (additional image store ${store.root}, ${store.tool.kind})`,
    list: async () => {
      const listing: Listing = new Map();
      for (const [name, digest] of await storeList()) listing.set(name, { digest, pinnedBy: 'read-only store' });
      return listing;
    },
    blobs: () => listStoreBlobs(agent, store),
    names: (image) => [image.name],
    diskSpace: () => diskSpaceAt(agent, store.root),
    inject: async (reader, images, platform, injectOptions) => {
      stored = undefined;
      try {
        await load(reader, images, platform, injectOptions);
      } finally {
        stored = undefined;
      }
    },
    // Nothing to pin or unpin: GC cannot delete from a read-only store.
    pin: async () => undefined,
    unpin: async () => [],
    configure: async (mirrors) => {
      const changed: string[] = [];
      // storage.conf is read only when CRI-O starts; registries.conf.d drop-ins on reload (SIGHUP).
      // A store nothing was loaded into yet (registry mode: the node only pulls) is not listed: CRI-O refuses
      // to start when an additional store it names does not exist. Both asked in one round.
      const [initialised, storageConf] = await Promise.all([
        agent.hostExec(`test -f ${shellQuote(storeImagesFile(store.root, store.driver))}`).then((r) => r.exitCode === 0),
        readHostFile(agent, store.storageConf),
      ]);
      if (initialised && (await configureStore(agent, store, options.backupDir, storageConf ?? ''))) changed.push(store.storageConf);
      let reload = false;
      let restart = false;
      const credentials = new Map<string, string>();
      for (const m of mirrors) for (const e of m.endpoints) if (options.mirrorAuth?.has(e)) credentials.set(new URL(e).host, options.mirrorAuth.get(e)!);
      if (credentials.size) {
        const { file, dropIn } = crioAuthTarget(agent.node, crio);
        if (dropIn && (await readHostFile(agent, CRIO_AUTH_DROP_IN)) !== dropIn) {
          await writeHostFileWithBackup(agent, CRIO_AUTH_DROP_IN, dropIn, options.backupDir, { base: dirOf(CRIO_AUTH_DROP_IN) });
          changed.push(CRIO_AUTH_DROP_IN);
          restart = true; // global_auth_file is read when CRI-O starts
        }
        const merged = mergeAuthJson(await readHostFile(agent, file), credentials, `${agent.node}:${file}`);
        if (merged !== undefined) {
          await writeHostFileWithBackup(agent, file, merged, options.backupDir, { base: dirOf(file), secret: true });
          changed.push(file);
        }
      }
      if (mirrors.length) {
        const text = crioMirrorsDropIn(mirrors);
        if ((await readHostFile(agent, CRIO_DROP_IN)) !== text) {
          await writeHostFileWithBackup(agent, CRIO_DROP_IN, text, options.backupDir, { base: dirOf(CRIO_DROP_IN) });
          changed.push(CRIO_DROP_IN);
          reload = true;
        }
      }
      return { changed, apply: restart || changed.includes(store.storageConf) ? 'restart' : reload ? 'reload' : 'none' };
    },
    restart: async (how) => {
      stored = undefined;
      await systemctl(agent, how, 'crio', 'CRI-O');
    },
    placement: async (name) => {
      const [inDefault, inAdditional] = await Promise.all([listStoreAt(agent, store.defaultRoot, store.driver), storeList()]);
      return { inDefaultStore: inDefault.has(name), inAdditionalStore: inAdditional.has(name) };
    },
  };
}

/**
 * Where CRI-O's pull credentials go: the auth file the node's CRI-O already reads (global_auth_file,
 * merged into), or lading's own file with a drop-in that names it. An auth file elsewhere than under
 * /etc/crio or /etc/containers is refused: --restore could not put it back.
 */
export function crioAuthTarget(node: string, crio: CrioSettings | undefined): { file: string; dropIn?: string } {
  const configured = crio?.globalAuthFile;
  if (!configured || crio?.sources.globalAuthFile === CRIO_AUTH_DROP_IN) return { file: CRIO_AUTH_FILE, dropIn: crioAuthDropIn() };
  if (!CRIO_AUTH_DIRS.some((dir) => configured.startsWith(`${dir}/`))) {
    throw new AbortError(`node ${node}: CRI-O reads its pull credentials from ${configured} (global_auth_file in ${crio?.sources.globalAuthFile}), outside ${CRIO_AUTH_DIRS.join(' and ')}`, {
      exitCode: ExitCode.node,
      hint: `lading writes credentials only where --restore can put them back: add the registry's entry to ${configured} by hand, or move that file under /etc/crio.`,
    });
  }
  return { file: configured };
}
