/**
 * CRI-O nodes: each image loaded with the host's podman or skopeo into a
 * read-only additional image store that storage.conf lists. CRI-O's wipe of
 * its default store after an unclean shutdown does not touch it, and the
 * kubelet's image GC cannot delete from it: the store itself pins.
 */
import { planNodeArchive, streamNodeArchive } from '../bundle/node-archive.js';
import type { NodeAgent } from '../cluster/agent.js';
import type { NodeFacts } from '../cluster/preflight.js';
import { AbortError, ExitCode } from '../errors.js';
import { readHostFile, writeHostFileWithBackup } from '../config/host-files.js';
import { dirOf } from '../config/host-paths.js';
import { CRIO_DROP_IN, crioMirrorsDropIn } from '../config/mirrors.js';
import { configureStore, detectContainersStorage, listStore, listStoreAt, loadIntoStore, storeImagesFile } from '../runtimes/containers-storage.js';
import { shellQuote } from '../host.js';
import type { NodeConfig } from '../runtimes/node-config.js';
import { diskSpaceAt } from './disk-space.js';
import type { DriverOptions, Listing, RuntimeDriver } from './drivers.js';
import { systemctl } from './systemctl.js';

export async function crioDriver(agent: NodeAgent, facts: NodeFacts, options: DriverOptions, config: NodeConfig): Promise<RuntimeDriver> {
  const crio = config.crio?.settings;
  const store = await detectContainersStorage(agent, {
    ...(options.imageStore ? { root: options.imageStore } : {}),
    ...(options.storageConf ? { storageConf: options.storageConf } : {}),
    ...(crio?.storageDriver ? { driver: crio.storageDriver } : {}),
    ...(crio?.root ? { defaultRoot: crio.root } : {}),
  });
  return {
    description: `${facts.runtimeVersion} (additional image store ${store.root}, ${store.tool.kind})`,
    list: async () => {
      const listing: Listing = new Map();
      for (const [name, digest] of await listStore(agent, store)) listing.set(name, { digest, pinnedBy: 'read-only store' });
      return listing;
    },
    names: (image) => [image.name],
    diskSpace: () => diskSpaceAt(agent, store.root),
    inject: async (reader, images, platform, onBytes, signal) => {
      // podman and skopeo read one image per archive.
      for (const image of images) {
        const plan = planNodeArchive([image], platform);
        await loadIntoStore(agent, store, image.name, streamNodeArchive(reader, plan, { onBytes, digestNames: false }), signal);
      }
    },
    // Nothing to pin or unpin: GC cannot delete from a read-only store.
    pin: async () => undefined,
    unpin: async () => [],
    configure: async (mirrors) => {
      const changed: string[] = [];
      // storage.conf is read only when CRI-O starts; registries.conf.d drop-ins on reload (SIGHUP).
      // A store nothing was loaded into yet (registry mode: the node only pulls) is not listed: CRI-O refuses
      // to start when an additional store it names does not exist.
      const initialised = (await agent.hostExec(`test -f ${shellQuote(storeImagesFile(store.root, store.driver))}`)).exitCode === 0;
      if (initialised && (await configureStore(agent, store, options.backupDir))) changed.push(store.storageConf);
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
    placement: async (name) => ({
      inDefaultStore: (await listStoreAt(agent, store.defaultRoot, store.driver)).has(name),
      inAdditionalStore: (await listStore(agent, store)).has(name),
    }),
  };
}
