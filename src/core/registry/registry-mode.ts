/**
 * `lading install --registry`: the bundle's registry image put on one node by
 * node injection (pinned, in CRI-O's read-only store), run there as the
 * in-cluster registry, every image pushed to it through the API server, every
 * node's runtime pointed at it by the images' original names, and proof that
 * each node pulls from it. Node injection does the node work (install-job);
 * this file orders the registry's steps and knows its facts.
 */
import { traced } from '../util/trace.js';
import { AbortError, ExitCode } from '../errors.js';
import { ProgressMeter, type ProgressHub } from '../progress.js';
import type { BundleMetadata } from '../bundle/layout.js';
import { BundleReader } from '../bundle/reader.js';
import { checkPermissions, listNodes, nodeFsSpace, type FsSpace, type NodeFacts } from '../cluster/preflight.js';
import type { ClusterConnection } from '../cluster/kube.js';
import type { Mirror } from '../config/mirrors.js';
import { planNode, type NodePlan } from '../install/plan.js';
import type { NodeReport } from '../install/report.js';
import { ApiProxyTransport } from './api-proxy.js';
import {
  applyRegistry,
  configMapBootstrapPermissions,
  waitForReadyPod,
  defaultStorageClass,
  registryNodePort,
  registryAuthPermissions,
  registryStorage,
  runningRegistry,
  registryEndpoint,
  registryPermissions,
  removeRegistry,
  waitForRegistry,
  PUSH_GATE_MOUNT,
  PUSH_GATE_ROLE,
  PUSH_PORT_NAME,
  REGISTRY_NAME,
  type RegistryPlacement,
  type RegistryStorage,
} from './deploy.js';
import { basicAuth, ensureCredentials, ensurePullSecret, readCredentials, PULL_SECRET, PUSH_TOKEN_HEADER, AUTH_SECRET, type RegistryCredentials } from './auth.js';
import { carryProgram, ensureProgram, removePrograms } from '../configmap/program.js';
import { injectorRefusals, planInjector, removeInjector, startInjector, writePayload, type InjectorPlan } from '../configmap/bootstrap.js';
import { localhostNodePortsWork } from './kube-proxy.js';
import { locateInjector } from '../configmap/injector-binary.js';
import type { MirrorAuth } from '../config/mirrors.js';
import { pushBundleImage } from './push-image.js';
import { pushTarget, registryBytes, registryMirrors, registrySpaceProblem, repositoryClashes } from './facts.js';
import { RegistryPusher } from './push.js';

export const REGISTRY_PUSH_PROGRESS_KEY = 'registry:push';

/** The ConfigMap bootstrap's storage: PodSecurity restricted allows no hostPath. */
const EMPTY_DIR_STORAGE: RegistryStorage = {
  kind: 'emptyDir',
  path: '/var/lib/registry (emptyDir)',
  reason: 'PodSecurity restricted forbids a hostPath; the data lives as long as the pod, and install --registry pushes again after a new pod',
};

export interface RegistryReport {
  node: string;
  endpoint: string;
  image: string;
  storage: RegistryStorage;
  /** htpasswd: pulls and pushes need credentials (lading's, in a Secret; never printed). */
  auth: 'htpasswd' | 'none';
  push?: { images: number; blobsUploaded: number; blobsPresent: number; bytesSent: number; manifestsPut: number; resumed: number; restarted: number; ms: number };
  /** check --registry: whether its pod is Ready. */
  health?: { ready: boolean; detail: string };
  /** The registry's own image on its node: how it got there and what keeps the kubelet's GC from it. */
  bootstrap?: { outcome: string; pinnedBy?: string };
  /** Every image's root manifest in the registry by digest (and under its tag). */
  held?: { ok: boolean; missing: string[] };
  /** The ConfigMap bootstrap: what it carried and how long until each part served. */
  injector?: { configMaps: number; bytes: number; injectorBytes: number; loaderBytes: number; injectorReadyMs: number; registryReadyMs: number };
  /** Without node configuration: per image, the reference that pulls it from the in-cluster registry on every node. */
  references?: Array<{ image: string; reference: string }>;
  /** With credentials and no node configuration: the dockerconfigjson Secret pods pull the references with. */
  pullSecret?: string;
}

export { pushTarget, registryBytes, registryMirrors, registrySpaceProblem, repositoryClashes, sourceRegistries } from './facts.js';

export interface RegistryModeOptions {
  conn: ClusterConnection;
  namespace: string;
  bundle: string;
  progress: ProgressHub;
  /** The node to run the registry on (default: the first ready node the registry image fits). */
  node?: string;
  /** Share of the registry node's filesystem that must stay free (install's --keep-free). */
  keepFreePercent?: number;
  /** Run it with htpasswd credentials (--registry-auth); a registry that has them keeps them anyway. */
  auth?: boolean;
  /** How the registry's image reaches its node: node injection (exec) or the ConfigMap injector. */
  bootstrap?: 'exec' | 'configmap';
  signal?: AbortSignal;
}

export class RegistryMode {
  readonly #options: RegistryModeOptions;
  #placement: RegistryPlacement | undefined;
  #metadata: BundleMetadata | undefined;
  #registryNode: NodeFacts | undefined;
  #credentials: RegistryCredentials | undefined;
  #injector: InjectorPlan | undefined;
  #nodePort: number | undefined;
  report: RegistryReport | undefined;

  constructor(options: RegistryModeOptions) {
    this.#options = options;
  }

  /** Changes nothing: the bundle carries a registry, a node can run it, the images fit in one registry, the permissions hold. */
  async preflight(metadata: BundleMetadata, nodes: NodePlan[], { mustRun = false }: { mustRun?: boolean } = {}): Promise<RegistryPlacement> {
    const { conn, namespace } = this.#options;
    if (!metadata.registry) {
      throw new AbortError(`${this.#options.bundle} carries no registry image`, {
        exitCode: ExitCode.usage,
        hint: 'Name one in the spec (spec.registry.image, e.g. docker.io/library/registry:2.8.3) and run lading create again.',
      });
    }
    const image = metadata.images.find((i) => i.name === metadata.registry!.image)!;
    const clashes = repositoryClashes(metadata.images);
    if (clashes.length) {
      throw new AbortError(`one registry cannot hold these images under their original paths: ${clashes.join('; ')}`, {
        exitCode: ExitCode.usage,
        hint: 'Carry only one of each clashing path in a bundle for registry mode, or install it with node injection (without --registry).',
      });
    }
    const fits = (facts: NodeFacts) => image.platforms.some((p) => p.platform === facts.platform);
    const wanted = this.#options.node;
    // A registry that runs already stays where its data is, selected or not (a late node's install selects only that node).
    const current = await runningRegistry(conn, namespace);
    const running = current?.hostname;
    if (mustRun && !running) {
      throw new AbortError(`no lading registry runs in namespace ${namespace}`, {
        exitCode: ExitCode.node,
        hint: `lading install ${this.#options.bundle} --registry starts one.`,
      });
    }
    let chosen: Pick<NodePlan, 'facts'> | undefined;
    if (running) {
      // listNodes refuses an empty match with an AbortError: here that means the node is gone.
      const found = await listNodes(conn, `kubernetes.io/hostname=${running}`).catch((error: unknown) => {
        if (error instanceof AbortError) return [];
        throw error;
      });
      chosen = found[0] ? { facts: found[0] } : undefined;
      if (!chosen) {
        throw new AbortError(`the registry's node (kubernetes.io/hostname=${running}) is gone; its data went with it`, {
          exitCode: ExitCode.node,
          hint: `Delete Deployment ${REGISTRY_NAME} in ${namespace} and run install --registry again: the registry starts anew elsewhere and every image is pushed again.`,
        });
      }
      if (wanted && wanted !== chosen.facts.name) {
        throw new AbortError(`--registry-node ${wanted}: the registry already runs on ${chosen.facts.name}, and its data is there`, {
          exitCode: ExitCode.usage,
          hint: `Leave out --registry-node, or delete Deployment ${REGISTRY_NAME} in ${namespace} first to start it anew on ${wanted}.`,
        });
      }
    } else chosen = wanted ? nodes.find((n) => n.facts.name === wanted) : nodes.find((n) => fits(n.facts));
    if (!chosen) {
      throw new AbortError(wanted ? `--registry-node ${wanted} is not one of the selected ready nodes` : `no selected node can run the registry image ${image.name} (its platforms: ${image.platforms.map((p) => p.platform).join(', ')})`, {
        exitCode: ExitCode.usage,
        hint: `Nodes: ${nodes.map((n) => `${n.facts.name} (${n.facts.platform})`).join(', ')}.`,
      });
    }
    if (!fits(chosen.facts)) {
      throw new AbortError(`the registry image ${image.name} has no ${chosen.facts.platform} platform for node ${chosen.facts.name}`, { exitCode: ExitCode.usage });
    }
    const address = chosen.facts.node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!address) throw new AbortError(`node ${chosen.facts.name} reports no InternalIP: the other nodes could not reach a registry on it`, { exitCode: ExitCode.node, hint: 'Pick another node with --registry-node NAME.' });
    const configMap = this.#options.bootstrap === 'configmap';
    await checkPermissions(conn, [...registryPermissions(namespace), ...(configMap ? configMapBootstrapPermissions(namespace) : [])]);
    // The kubelet's summary needs nodes/proxy, which a restricted identity may lack: then the node does not say.
    const space: { nodeFs?: FsSpace } = await nodeFsSpace(conn, chosen.facts.name).catch((error: unknown) => (configMap ? {} : Promise.reject(error)));
    const tooBig = registrySpaceProblem(registryBytes(metadata.images), space.nodeFs, this.#options.keepFreePercent ?? 15);
    if (tooBig) {
      throw new AbortError(`node ${chosen.facts.name}: ${tooBig}`, {
        exitCode: ExitCode.node,
        hint: 'Nothing was changed. Free space on that node, pick another with --registry-node NAME, or carry fewer images.',
      });
    }
    this.#metadata = metadata;
    this.#registryNode = chosen.facts;
    const storage = configMap ? EMPTY_DIR_STORAGE : registryStorage(await defaultStorageClass(conn));
    const auth = await this.#authPlacement(metadata.registry.port, chosen.facts, current?.pushPort, mustRun);
    // A registry that runs (and is Ready) is kept, unless credentials are now asked of one without: its
    // emptyDir holds what was pushed, and its node has its image.
    const sameAuth = (auth !== undefined) === (current?.pushPort !== undefined);
    const alreadyReady = configMap && running !== undefined && sameAuth && (await waitForRegistry(conn, namespace, { timeoutMs: 5_000 }).then(() => true, () => false));
    if (configMap && !mustRun && !alreadyReady) {
      const proxy = await localhostNodePortsWork(conn, chosen.facts);
      this.#injector = { ...(await planInjector(conn, namespace, image, chosen.facts)), proxy };
    }
    this.#placement = {
      namespace,
      node: chosen.facts.name,
      hostnameLabel: chosen.facts.node.metadata?.labels?.['kubernetes.io/hostname'] ?? chosen.facts.name,
      nodeAddress: address,
      image: image.name,
      port: metadata.registry.port,
      storage,
      bootstrap: configMap ? 'configmap' : 'exec',
      ...(auth ? { auth } : {}),
    };
    this.report = { node: chosen.facts.name, endpoint: registryEndpoint(this.#placement), image: image.name, storage, auth: auth ? 'htpasswd' : 'none' };
    return this.#placement;
  }

  /**
   * Credentials: asked for, or kept because the running registry has them (a later run without the flag
   * must not strip them). Install carries the push gate's program; check only needs the port and the
   * credentials, which must exist then.
   */
  async #authPlacement(port: number, node: NodeFacts, runningPushPort: number | undefined, checkOnly: boolean): Promise<RegistryPlacement['auth']> {
    const { conn, namespace } = this.#options;
    if (!this.#options.auth && runningPushPort === undefined) return undefined;
    const pushPort = runningPushPort ?? port + 1;
    if (pushPort > 65535) {
      throw new AbortError(`the registry's push gate listens on the port after the registry's (${port}), and there is none`, { exitCode: ExitCode.usage, hint: 'Give spec.registry.port a lower number and create the bundle again.' });
    }
    await checkPermissions(conn, registryAuthPermissions(namespace));
    this.#credentials = await readCredentials(conn, namespace);
    if (checkOnly) {
      if (!this.#credentials) {
        throw new AbortError(`the registry has a push gate, but Secret ${namespace}/${AUTH_SECRET} with its credentials is gone`, {
          exitCode: ExitCode.node,
          hint: `Run lading install BUNDLE --registry --registry-auth: it makes new credentials and gives them to the registry and every node.`,
        });
      }
      return { pushPort };
    }
    const gate = await carryProgram(await locateInjector(node.platform), PUSH_GATE_ROLE, PUSH_GATE_MOUNT);
    return { pushPort, gate };
  }

  /** The ConfigMap bootstrap's plan (what it writes), once preflight made it. */
  get injectorPlan(): InjectorPlan | undefined {
    return this.#injector;
  }

  /** Writes the injector's payload ConfigMaps (the registry image for its node's platform, and the injector). */
  async carryInConfigMaps(onProgress: (done: number, total: number) => void): Promise<void> {
    const { conn, namespace, bundle, signal } = this.#options;
    const plan = this.#injector!;
    const reader = await BundleReader.open(bundle);
    try {
      await writePayload(conn, namespace, plan, reader, { onConfigMap: (done) => onProgress(done, plan.summary.configMaps), ...(signal ? { signal } : {}) });
    } catch (error) {
      await removeInjector(conn, namespace).catch(() => undefined);
      throw error;
    } finally {
      await reader.close();
    }
  }

  /**
   * The injector on the registry's node, the registry started from the reference the node resolves through
   * it, then the injector and its ConfigMaps removed (whatever happened). Returns the injector's timings.
   */
  async startFromInjector(onStage: (stage: string) => void): Promise<{ injectorReadyMs: number; registryReadyMs: number }> {
    const { conn, namespace, signal } = this.#options;
    const plan = this.#injector!;
    const started = performance.now();
    try {
      onStage(`starting the injector on ${plan.node.name} (on its ${plan.image})`);
      const injectorPort = await startInjector(conn, namespace, plan, signal);
      const injectorReadyMs = Math.round(performance.now() - started);
      this.#placement = { ...this.placement, pullRef: plan.servedAs(injectorPort) };
      const gate = this.placement.auth?.gate;
      if (gate) {
        this.#credentials = (await ensureCredentials(conn, namespace)).credentials;
        await ensureProgram(conn, namespace, gate);
      }
      onStage(`starting the registry from ${this.placement.pullRef}`);
      const outcome = await applyRegistry(conn, this.placement);
      try {
        await waitForReadyPod(conn, namespace, `app.kubernetes.io/name=${REGISTRY_NAME}`, 'the registry pod', {
          pullIsFatal: true,
          ...(signal ? { signal } : {}),
          hint: `Its node pulls it from the injector as ${this.placement.pullRef}, which takes kube-proxy in iptables mode with localhost NodePorts (${plan.proxy ?? 'not checked'}). Nothing was pushed; lading removed the injector, its ConfigMaps and what this run created.`,
        });
      } catch (error) {
        await removeRegistry(conn, namespace, outcome.created).catch(() => undefined);
        if (gate && outcome.created.includes('deployment')) await removePrograms(conn, namespace, PUSH_GATE_ROLE).catch(() => undefined);
        const refused = signal?.aborted ? [] : await injectorRefusals(conn, namespace, plan.payload.id);
        if (refused.length) {
          throw new AbortError(`the injector refused to serve what a ConfigMap altered: ${refused.join('; ')}`, {
            exitCode: ExitCode.integrity,
            hint: `A ConfigMap of the payload in ${namespace} changed after lading wrote it (every chunk is checked against the sha256 lading computed). Nothing was pushed; lading removed the injector and its ConfigMaps. Run install again, and find out who changes ConfigMaps in ${namespace}.`,
            cause: error,
          });
        }
        throw error;
      }
      if (gate) await removePrograms(conn, namespace, PUSH_GATE_ROLE, gate.id);
      const times = { injectorReadyMs, registryReadyMs: Math.round(performance.now() - started) };
      this.report = { ...this.report!, injector: { configMaps: plan.summary.configMaps, bytes: plan.summary.bytes, injectorBytes: plan.injector.size, loaderBytes: plan.injector.loader.size, ...times } };
      return times;
    } finally {
      await removeInjector(conn, namespace);
    }
  }

  /** Where every node pulls the restricted registry from: its Service's node port on the node's loopback. */
  async locateNodePort(): Promise<number> {
    const { conn, namespace } = this.#options;
    const nodePort = await registryNodePort(conn, namespace);
    if (!nodePort) throw new AbortError(`the registry's Service in ${namespace} has no node port`, { exitCode: ExitCode.node, hint: 'Run install --registry --bootstrap configmap again.' });
    this.#nodePort = nodePort;
    this.report = { ...this.report!, endpoint: `http://127.0.0.1:${nodePort}` };
    if (this.#credentials) {
      // Nodes get no configuration here: pods pull with this Secret (imagePullSecrets), in any namespace it is copied to.
      await ensurePullSecret(conn, namespace, `127.0.0.1:${nodePort}`, this.#credentials);
      this.report = { ...this.report, pullSecret: PULL_SECRET };
    }
    return nodePort;
  }

  /** The imagePullSecrets pods need for the references (with credentials), else none. */
  pullSecrets(): string[] {
    return this.#credentials && this.placement.bootstrap === 'configmap' ? [PULL_SECRET] : [];
  }

  /** Per image, the reference that pulls it from the in-cluster registry on any node (no node configuration needed). */
  references(): Array<{ image: string; reference: string }> {
    if (!this.#nodePort) throw new Error('RegistryMode: references before locateNodePort');
    const references = this.#requireMetadata().images.map((image) => {
      const target = pushTarget(image);
      return { image: image.name, reference: `127.0.0.1:${this.#nodePort}/${target.repository}${target.tag ? `:${target.tag}` : `@${image.root.digest}`}` };
    });
    this.report = { ...this.report!, references };
    return references;
  }

  /** The credentials nodes pull with, per registry endpoint (empty without credentials). */
  mirrorAuth(): MirrorAuth {
    return this.#credentials ? new Map([[registryEndpoint(this.placement), basicAuth(this.#credentials)]]) : new Map();
  }

  #transport(): ApiProxyTransport {
    const { conn, namespace } = this.#options;
    const auth = this.placement.auth;
    if (auth && !this.#credentials) throw new Error('RegistryMode: credentials before start');
    return new ApiProxyTransport(conn.kc, conn.server, {
      namespace,
      service: REGISTRY_NAME,
      port: auth ? PUSH_PORT_NAME : this.placement.port,
      ...(auth ? { headers: { [PUSH_TOKEN_HEADER]: this.#credentials!.pushToken } } : {}),
    });
  }

  get placement(): RegistryPlacement {
    if (!this.#placement) throw new Error('RegistryMode: placement before preflight');
    return this.#placement;
  }

  /** The plan that puts only the registry's image on its node, with node injection. */
  bootstrapPlan(): NodePlan {
    return planNode(this.#registryNode!, this.#requireMetadata().images.filter((i) => i.name === this.placement.image));
  }

  /** Every node's mirror configuration: the in-cluster registry first, then the bundle's own mirrors. */
  mirrors(bundleMirrors: readonly Mirror[]): Mirror[] {
    return registryMirrors(this.#requireMetadata().images, bundleMirrors, registryEndpoint(this.placement));
  }

  recordBootstrap(report: NodeReport): void {
    const image = report.images[0];
    this.report = { ...this.report!, bootstrap: { outcome: image?.outcome ?? 'missing', ...(image?.pinnedBy ? { pinnedBy: image.pinnedBy } : {}) } };
  }

  /** `check --registry`: is the registry's pod Ready now? (No waiting beyond a few seconds; a pod that is not says why.) */
  async health(): Promise<{ ready: boolean; detail: string }> {
    const { conn, namespace } = this.#options;
    try {
      const pod = await waitForRegistry(conn, namespace, { timeoutMs: 5_000 });
      const detail = `pod ${pod.metadata?.name} Ready on ${pod.spec?.nodeName}`;
      this.report = { ...this.report!, health: { ready: true, detail } };
      return { ready: true, detail };
    } catch (error) {
      const detail = (error as Error).message;
      this.report = { ...this.report!, health: { ready: false, detail } };
      return { ready: false, detail };
    }
  }

  /** Deployment and Service, then the pod Ready; what this run created is removed again if it never is. */
  async start(): Promise<void> {
    const { conn, namespace, signal } = this.#options;
    const gate = this.placement.auth?.gate;
    if (gate) {
      this.#credentials = (await ensureCredentials(conn, namespace)).credentials;
      await ensureProgram(conn, namespace, gate);
    }
    const outcome = await applyRegistry(conn, this.placement);
    try {
      await waitForRegistry(conn, namespace, signal ? { signal } : {});
    } catch (error) {
      await removeRegistry(conn, namespace, outcome.created).catch(() => undefined);
      if (gate && outcome.created.includes('deployment')) await removePrograms(conn, namespace, PUSH_GATE_ROLE).catch(() => undefined);
      throw error;
    }
    // The gate's program of an earlier lading, now that the pod runs this one.
    if (gate) await removePrograms(conn, namespace, PUSH_GATE_ROLE, gate.id);
  }

  /** Every image, all its platforms, through the API server; what the registry holds is skipped. */
  async push(): Promise<NonNullable<RegistryReport['push']>> {
    const { bundle, progress, signal } = this.#options;
    const metadata = this.#requireMetadata();
    const transport = this.#transport();
    const pusher = new RegistryPusher(transport, signal ? { signal } : {});
    const reader = await BundleReader.open(bundle);
    const started = performance.now();
    const totals = { images: 0, blobsUploaded: 0, blobsPresent: 0, bytesSent: 0, manifestsPut: 0 };
    const omitted = new Set((metadata.omitted ?? []).map((o) => o.digest));
    const unique = new Map<string, number>();
    for (const image of metadata.images) for (const p of image.platforms) for (const b of [p.config, ...p.layers]) if (!omitted.has(b.digest)) unique.set(b.digest, b.size);
    const meter = new ProgressMeter([...unique.values()].reduce((a, b) => a + b, 0));
    try {
      // A delta: the registry must hold what it leaves out, asked before the first byte goes in.
      const lacking = await lackingInRegistry(pusher, metadata, omitted);
      if (lacking.length) {
        throw new AbortError(`the in-cluster registry lacks ${lacking.length} layer${lacking.length === 1 ? '' : 's'} this delta bundle leaves out (${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ', ...' : ''}); nothing was pushed`, {
          exitCode: ExitCode.node,
          hint: 'Push the bundle the delta was made against first (lading inspect names it), or a whole bundle.',
        });
      }
      for (const image of metadata.images) {
        const r = await pushBundleImage(pusher, reader, image, pushTarget(image), (n) => {
          meter.advance(n);
          progress.publish({ key: REGISTRY_PUSH_PROGRESS_KEY, progress: meter.snapshot() });
        }, omitted);
        totals.images++;
        totals.blobsUploaded += r.uploaded;
        totals.blobsPresent += r.present;
        totals.bytesSent += r.bytesSent;
        totals.manifestsPut += r.manifestsPut;
      }
      meter.complete();
      progress.publish({ key: REGISTRY_PUSH_PROGRESS_KEY, progress: meter.snapshot() });
    } finally {
      await traced('push: closing the bundle', () => reader.close());
      await transport.close();
    }
    const push = { ...totals, ...pusher.stats, ms: Math.round(performance.now() - started) };
    this.report = { ...this.report!, push };
    return push;
  }

  /** The registry's own answer: every image's root manifest by digest, and under its tag. */
  async verifyHeld(): Promise<NonNullable<RegistryReport['held']>> {
    const transport = this.#transport();
    const pusher = new RegistryPusher(transport);
    const missing: string[] = [];
    try {
      for (const image of this.#requireMetadata().images) {
        const target = pushTarget(image);
        const byDigest = await pusher.hasManifest(target.repository, image.root.digest, image.root.digest);
        const byTag = target.tag === undefined || (await pusher.hasManifest(target.repository, target.tag, image.root.digest));
        if (!byDigest || !byTag) missing.push(image.name);
      }
    } finally {
      await transport.close();
    }
    const held = { ok: missing.length === 0, missing };
    this.report = { ...this.report!, held };
    return held;
  }

  #requireMetadata(): BundleMetadata {
    if (!this.#metadata) throw new Error('RegistryMode: metadata before preflight');
    return this.#metadata;
  }
}

/** `repository@layer` for each layer a delta leaves out that the registry does not hold in the repository the image goes to. */
async function lackingInRegistry(pusher: RegistryPusher, metadata: BundleMetadata, omitted: ReadonlySet<string>): Promise<string[]> {
  const lacking: string[] = [];
  const asked = new Set<string>();
  for (const image of metadata.images) {
    const { repository } = pushTarget(image);
    for (const p of image.platforms) {
      for (const layer of p.layers) {
        const key = `${repository}@${layer.digest}`;
        if (!omitted.has(layer.digest) || asked.has(key)) continue;
        asked.add(key);
        if (!(await pusher.hasBlob(repository, layer))) lacking.push(key);
      }
    }
  }
  return lacking;
}
