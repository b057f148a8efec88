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
import { announcedSocket, detectContainerd, freeBytes, importArchive, listImages } from '../runtimes/containerd.js';
import { configureStore, detectContainersStorage, listStore, loadIntoStore } from '../runtimes/containers-storage.js';
import type { NodeFacts } from '../cluster/preflight.js';

export interface RuntimeDriver {
  /** For the report: runtime and where lading reached it. */
  description: string;
  /** Image name -> digest, as the runtime resolves names. */
  list(): Promise<Map<string, string>>;
  /** Whether a listing holds the image under every name a pod may use. */
  holds(listing: Map<string, string>, image: BundleImage): boolean;
  /** Free bytes where images land, if known. */
  freeBytes(): Promise<number | undefined>;
  inject(reader: BundleReader, images: BundleImage[], platform: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<void>;
  /** Makes the runtime use what was injected across restarts; returns the files changed. */
  configure(): Promise<string[]>;
  /** Restarts the runtime so changed configuration takes effect. */
  restart(): Promise<void>;
}

export interface DriverOptions {
  containerdSocket?: string;
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
    freeBytes: () => freeBytes(agent, runtime),
    inject: (reader, images, platform, onBytes, signal) =>
      importArchive(agent, runtime, streamNodeArchive(reader, planNodeArchive(images, platform), { onBytes }), signal),
    // Images in containerd's content store survive restarts as they are; mirrors (hosts.toml) come later.
    configure: async () => [],
    restart: async () => undefined,
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
    freeBytes: async () => {
      const result = await agent.hostExec(`mkdir -p '${store.root}' && df -Pk '${store.root}' | tail -n 1`);
      const available = Number(result.stdout.trim().split(/\s+/)[3]);
      return Number.isFinite(available) ? available * 1024 : undefined;
    },
    inject: async (reader, images, platform, onBytes, signal) => {
      // podman and skopeo read one image per archive.
      for (const image of images) {
        const plan = planNodeArchive([image], platform);
        await loadIntoStore(agent, store, image.name, streamNodeArchive(reader, plan, { onBytes, digestNames: false }), signal);
      }
    },
    configure: async () => ((await configureStore(agent, store, options.backupDir)) ? [store.storageConf] : []),
    restart: async () => {
      const result = await agent.hostExec('if command -v systemctl >/dev/null 2>&1; then systemctl restart crio; else echo "no systemctl" >&2; exit 3; fi');
      if (result.exitCode !== 0) {
        throw new AbortError(`node ${agent.node}: restarting CRI-O failed: ${(result.stderr || result.message).trim()}`, {
          exitCode: ExitCode.node,
          hint: `${store.storageConf} now lists ${store.root}; restart CRI-O on the node by hand.`,
        });
      }
    },
  };
}
