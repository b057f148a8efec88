/**
 * The command line: parses it, runs a command, and turns any error into a
 * banner and an exit code, which main() returns to the entry (src/cli/main.ts),
 * the only place that sets the process exit code.
 */
import { Command, CommanderError, Option } from 'commander';
import { AbortError, ExitCode } from '../core/errors.js';
import { LADING_VERSION } from '../core/version.js';
import { setTraceSink } from '../core/util/trace.js';
import { formatErrorBanner } from '../ui/banner.js';
import { useColor, writeJson, type Streams } from './output.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    failure without a more specific code
  2    bad command line (unknown flag, bad value, output exists)
  3    spec file missing or invalid
  4    registry unreachable or answered with an error (missing tag, 5xx after retries)
  5    registry refused or required credentials
  6    digest or size mismatch; bundle failed verification
  7    bundle missing, unreadable or not a lading bundle
  8    cluster unreachable or answered with an error
  9    the cluster refused an action lading needs (RBAC, admission)
  10   a node cannot take the bundle, or did not pass verification
  130  interrupted (Ctrl-C)

Environment:
  NO_COLOR               no colours in any output
  CI                     plain output (no live view) when set
  LADING_CACHE_DIR       blob cache (default ~/.cache/lading/blobs)
  REGISTRY_AUTH_FILE, DOCKER_CONFIG
                         where registry credentials are read from (also
                         $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)`;

const SPEC_EXAMPLE = `
Spec (lading.yaml):
  apiVersion: lading.dev/v1alpha1
  kind: Bundle
  metadata: {name: demo, version: 1.0.0}
  spec:
    platforms: [linux/amd64, linux/arm64]   # default: linux/amd64
    images:
      - docker.io/library/nginx:1.27          # plain string
      - name: registry.k8s.io/pause:3.10      # or an object with per-image platforms
        platforms: [linux/amd64]
    registries:
      insecure: [registry.lab:5000]           # plain HTTP / unverified TLS allowed

Examples:
  lading create lading.yaml -o site.lading.tar
  lading create --insecure-registry 10.0.0.5:5000 -o out.tar
  CI=1 lading create --json > summary.json`;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(streams: Streams, env: NodeJS.ProcessEnv, setExit: (code: number) => void): Command {
  const program = new Command('lading')
    .description('Carry container images and runtime configuration into air-gapped Kubernetes clusters.')
    .version(LADING_VERSION, '-V, --version')
    .showHelpAfterError('(run lading --help for usage)')
    .configureOutput({
      writeOut: (s) => streams.stdout.write(s),
      writeErr: (s) => streams.stderr.write(s),
    })
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('create')
    .description('Pull the images a spec names and write one verified bundle (an OCI image layout tar).')
    .argument('[spec]', 'the spec file', 'lading.yaml')
    .addOption(new Option('-o, --output <file>', 'bundle file to write (default: NAME-VERSION.lading.tar)').env('LADING_OUTPUT'))
    .option('-f, --force', 'replace the output file if it exists')
    .addOption(new Option('--since <bundle>', 'write a delta: leave out the layers this earlier bundle holds (manifests and configs always go in); the site must have installed it').env('LADING_SINCE'))
    .addOption(new Option('--against <inventory>', 'write a delta: leave out the layers every node of this inventory holds (lading inventory -o FILE on the target cluster)').env('LADING_AGAINST').conflicts('since'))
    .addOption(new Option('--split <size>', 'write the bundle as parts of at most SIZE (e.g. 4GiB for FAT32): NAME.tar.001, .002, ... and NAME.parts, which every command takes').env('LADING_SPLIT'))
    .addOption(
      new Option('--insecure-registry <host>', 'allow plain HTTP / unverified TLS for this registry (repeatable)')
        .env('LADING_INSECURE_REGISTRIES')
        .argParser(collect)
        .default([]),
    )
    .addOption(new Option('--ca-file <file>', 'trust this PEM CA for registries (repeatable)').env('LADING_CA_FILE').argParser(collect).default([]))
    .addOption(new Option('--cache-dir <dir>', 'blob cache directory').env('LADING_CACHE_DIR'))
    .addOption(new Option('--concurrency <n>', 'images and blobs fetched at once').env('LADING_CONCURRENCY').default('4'))
    .option('--json', 'print one JSON document (summary or error) and no progress')
    .addOption(new Option('--no-tui', 'plain line output even on a terminal').env('LADING_NO_TUI'))
    .addHelpText('after', SPEC_EXAMPLE)
    .action(async (spec: string, flags) => {
      const insecure = typeof flags.insecureRegistry === 'string' ? [flags.insecureRegistry] : flags.insecureRegistry;
      const caFile = typeof flags.caFile === 'string' ? [flags.caFile] : flags.caFile;
      const { runCreate } = await import('./commands/create.js');
      setExit(await runCreate(spec, { ...flags, insecureRegistry: insecure, caFile }, streams, env));
    });

  program
    .command('inspect')
    .description('List the images, digests, platforms and sizes in a bundle (reads no blob bytes).')
    .argument('<bundle>', 'bundle file')
    .option('--json', 'print JSON')
    .action(async (bundle: string, flags) => {
      const { runInspect } = await import('./commands/inspect.js');
      setExit(await runInspect(bundle, flags, streams));
    });

  program
    .command('verify')
    .description('Stream the whole bundle and check every blob and reference; exit 0 only if all holds.')
    .argument('<bundle>', 'bundle file')
    .option('--json', 'print the report as JSON')
    .addOption(new Option('--no-tui', 'no live progress line').env('LADING_NO_TUI'))
    .action(async (bundle: string, flags) => {
      const { runVerify } = await import('./commands/verify.js');
      setExit(await runVerify(bundle, flags, streams, env));
    });

  program
    .command('serve')
    .description('Serve bundles as a read-only OCI registry (pull only), every blob checked against its digest when first served.')
    .argument('<bundle...>', 'bundle files (their images together; a name two bundles disagree on is refused)')
    .addOption(new Option('--listen <address:port>', 'address and port to listen on (port 0: any free port)').env('LADING_LISTEN').default('127.0.0.1:5000'))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)').env('LADING_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the PEM private key of --tls-cert').env('LADING_TLS_KEY'))
    .option('--log', 'print a line for every request')
    .option('--json', 'print JSON lines: one when listening (address, images), then requests (--log) and damaged blobs')
    .addHelpText(
      'after',
      `
Each image registry/repo:tag of a bundle is served as repo:tag and as registry/repo:tag, e.g. with
--listen 127.0.0.1:5000 the bundle's docker.io/library/nginx:1.27 pulls as 127.0.0.1:5000/library/nginx:1.27
(what a containerd mirror for docker.io asks for) and as 127.0.0.1:5000/docker.io/library/nginx:1.27.
Manifests and blobs are also served by digest, blobs with byte ranges. A blob whose bytes do not match
its digest is never served: the transfer is cut before its end, then it is answered 500 (and a line
says so). Ctrl-C or SIGTERM stops the server: exit 0. A port in use or a bad flag: exit 2; a bundle
whose lading.json or index.json is foreign or damaged, or that lacks a blob they name: exit 7, before
anything is served.

Examples:
  lading serve site.lading.tar --listen 0.0.0.0:5000
  skopeo inspect --tls-verify=false docker://127.0.0.1:5000/library/nginx:1.27`,
    )
    .action(async (bundles: string[], flags) => {
      const { runServe } = await import('./commands/serve.js');
      setExit(await runServe(bundles, flags, streams, env));
    });

  const install = program
    .command('install')
    .description('Inject a bundle\'s images into every node\'s container runtime through the Kubernetes API, and prove it.')
    .argument('[bundle]', 'bundle file written by lading create (not with --restore)');
  addClusterOptions(install)
    .option('--restore', 'put back every runtime file lading changed on the nodes (from its backups), then restart the runtime')
    .option('--dry-run', 'verify the bundle, run the preflight and print the plan (with --json: as JSON), then stop: nothing is created or changed')
    .option('--registry', 'registry mode: run the bundle\'s registry image (spec.registry) in the cluster, push every image to it through the API server, and point every node at it')
    .addOption(new Option('--registry-node <name>', 'registry mode: the node the registry runs on (default: the first selected node its image fits)').env('LADING_REGISTRY_NODE'))
    .addOption(new Option('--bootstrap <way>', 'registry mode: how the registry image reaches its node: exec (node injection through privileged agents) or configmap (the ConfigMap injector: no exec, no privileged pod, no node configuration); default: exec where allowed').choices(['exec', 'configmap']))
    .option('--no-node-access', 'registry mode: lading may not change nodes (no agent, no host file): the ConfigMap bootstrap, and pods pull by the in-cluster references the report lists')
    .option('--registry-auth', 'registry mode: the registry demands htpasswd credentials that lading generates (Secret lading-registry-auth, never printed); nodes get them mode 600; once on, later runs keep them')
    .addHelpText(
      'after',
      `
What it does:
  1. verifies the bundle (every blob) before touching the cluster
  2. preflight, changing nothing: API version, nodes (platform, runtime, readiness), permissions
  3. shows the plan and asks (or --yes)
  4. per node: a short-lived privileged agent pod in --namespace using an image the node already has
     (imagePullPolicy: Never); the node's own configuration read (the kubelet's runtime endpoint from its
     command line or config file, containerd's or CRI-O's config; --containerd-socket and
     --containerd-config override) and settings that defeat air-gapped images reported as warnings; the
     images the node lacks streamed through the API server (exec, bounded memory): containerd nodes: ctr
     import into k8s.io, then pinned (io.cri-containerd.pinned) so the kubelet's image GC keeps them;
     CRI-O nodes: podman/skopeo into the read-only additional image store --image-store, which
     storage.conf then lists (backed up first, CRI-O restarted only when the file changed) and which GC
     cannot delete from; then checked by digest and proven by pods (by tag and by digest, both with
     Never, so a proof pod cannot pull): the kubelet's "already present on machine" or a started
     container is the proof, whatever the image then does
  5. what was put on each node (bundle, time, the node's boot id, images) is recorded in a ConfigMap
     lading-node-NODE in --namespace, for lading check after a reset
  6. agent pods are removed at the end, on failure and on Ctrl-C (a second Ctrl-C, or cleanup still
     running 30 s later, stops at once with exit 130)
  A delta bundle (create --since or --against) first asks every node, before any changes, whether its
  runtime holds each layer the delta leaves out (for the images it lacks), and stops (exit 10) naming
  node and layers when one does not; one made against another cluster's inventory is refused (exit 7).
  --registry instead: the registry image (spec.registry.image) goes onto one node by node injection,
  pinned (in CRI-O's read-only store on CRI-O), and runs there as Deployment lading-registry on that
  node's own address (hostNetwork, data in /var/lib/lading/registry on the node, which survives the pod
  and the node's reset); every image is pushed to it through the API server's services/proxy (no
  port-forward, no NodePort, nothing from this machine to a node), blobs checked with HEAD first so a
  second run pushes nothing; every node gets a mirror for each registry the images come from
  (containerd hosts.toml, CRI-O registries.conf.d) to http://NODE_IP:PORT, which needs no kube-proxy;
  then on each node a pod per image by its original name with imagePullPolicy Always must pull.
  A node added later: lading install BUNDLE --registry --nodes SELECTOR (nothing is pushed again).
  --bootstrap configmap (chosen by itself where pods/exec is refused or the namespace enforces a
  PodSecurity level below privileged): no agent, no exec, no privileged pod. The registry image's blobs
  for its node's platform and lading's injector (a static program that serves them as a read-only
  registry, every chunk checked against its sha256) travel in ConfigMaps; a restricted pod on the node's
  sandbox image runs the injector (a 493-byte loader joins its chunks), the node's runtime pulls the
  registry through a NodePort as 127.0.0.1:PORT (kube-proxy in iptables mode), the registry runs as a
  restricted pod behind a NodePort of its own, and the injector and its ConfigMaps are removed. Nodes get
  no configuration: the report lists, per image, the 127.0.0.1:PORT/... reference that pulls it on any
  node, and a pod per image and node proves it (with --registry-auth, pods name the Secret
  lading-registry-pull in imagePullSecrets).
  --registry-auth: the registry runs with htpasswd; lading makes the credentials once (Secret
  lading-registry-auth in --namespace) and writes them, mode 600, into each node's hosts.toml
  (containerd) or the auth file CRI-O's global_auth_file names (else /etc/crio/lading-auth.json and a
  crio.conf.d drop-in naming it). The API server drops the Authorization header of every request it
  proxies, so pushes go through a push gate beside the registry (lading's own static program, carried
  in ConfigMaps, run as nobody with no capability) that takes a token and adds the credentials on
  loopback. Delete the Secret and the Deployment to run without credentials again.
  --restore puts back every file lading recorded in its backup manifest on each node
  (/var/lib/lading/backups/manifest) and nothing else, and takes off the pins lading set; pass the same
  --containerd-config and --storage-conf as the install did, since only files under those directories
  are restored
  A bundle is read as hostile input: lading.json and index.json are checked field by field and against the
  manifests, and no name from it reaches a node path or a config file unchecked.

Permissions needed: list nodes; get/create/patch namespaces; create/get/delete/deletecollection pods,
create pods/exec, list events, get/create/update configmaps in --namespace (and get the Secret named by
--mirror-auth-secret); with --registry also get/create/update/delete deployments, get/create/delete
services, list pods, and get/create/update/patch services/proxy; with --registry-auth also get/create
secrets and get/list/create/delete configmaps. A namespace lading creates is labelled for privileged
pods (PodSecurity) and marked app.kubernetes.io/managed-by=lading; an existing namespace that refuses
privileged pods is never relabelled: install stops (exit 9) and names the label.`,
    )
    .action(async (bundle: string | undefined, flags) => {
      const { runInstall } = await import('./commands/install.js');
      setExit(await runInstall(bundle, flags, streams, env));
    });

  const check = program
    .command('check')
    .description('Show which of a bundle\'s images every node still holds (after a hard reset, say); --repair re-injects what is lost.')
    .argument('<bundle>', 'bundle file written by lading create');
  addClusterOptions(check)
    .option('--repair', 'install again on the nodes that lost images: verify the bundle, show the plan, ask (or --yes), stream in only what is missing')
    .option('--registry', 'registry mode: check the in-cluster registry instead (its pod, its own image on its node, what it holds); with --repair bring back what is missing')
    .addHelpText(
      'after',
      `
Without --repair it changes nothing on the nodes: a short-lived agent pod per node lists the runtime's
images (containerd: the k8s.io namespace; CRI-O: the read-only additional image store, which survives
CRI-O's wipe of its default store after an unclean shutdown) and compares names and digests with the
bundle, says which are pinned against the kubelet's image GC, and against the install lading recorded
on the node: rebooted since (its boot id changed) or not, what survived, what was lost, what is not
pinned. Exit 0 when every node holds every image of its platform, 10 when something is lost.
--repair configures the runtimes as install does: pass the same --containerd-config, --storage-conf
and --mirror-auth / --mirror-auth-secret as the install.
--registry checks the in-cluster registry of install --registry instead: its pod Ready, its own image on
its node (present, pinned), every image of the bundle in it by digest and tag (asked through the API
server); exit 10 when anything is missing. With --repair: its image put back on its node, the registry
started, and only what it lacks pushed.
Permissions needed: as for lading install, but configmaps are only read (get).`,
    )
    .action(async (bundle: string, flags) => {
      const { runCheck } = await import('./commands/check.js');
      setExit(await runCheck(bundle, flags, streams, env));
    });

  const inventory = program
    .command('inventory')
    .description('Record what every node\'s runtime holds (images, and blobs where lading imports) for create --against. Changes nothing.');
  addClusterOptions(inventory)
    .requiredOption('-o, --output <file>', 'inventory file to write (JSON; replaced whole, never half-written)')
    .addHelpText(
      'after',
      `
A short-lived agent pod per node lists the runtime's images and the blobs it holds where lading's imports
land (containerd: the k8s.io namespace's content store; CRI-O: lading's read-only image store), and when
registry mode runs in --namespace, what its registry holds (asked through the API server). The file
names the cluster by the uid of its kube-system namespace. Carry it out to the connected side, then
  lading create SPEC --against inventory.json
writes a delta without the layers every node (and the registry) holds; install on another cluster is
refused, and install
checks again on every node that each left-out layer is there before it changes anything.
Permissions needed: as for lading check.`,
    )
    .action(async (flags) => {
      const { runInventory } = await import('./commands/inventory.js');
      setExit(await runInventory(flags, streams, env));
    });

  return program;
}

/** The options install and check share: which cluster and nodes, how lading reaches their runtimes, output. */
function addClusterOptions(command: Command): Command {
  return command
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config)').env('LADING_KUBECONFIG'))
    .addOption(new Option('--context <name>', 'kubeconfig context').env('LADING_CONTEXT'))
    .addOption(new Option('--nodes <selector>', 'only nodes matching this label selector').env('LADING_NODES'))
    .addOption(new Option('--namespace <name>', 'namespace for lading\'s short-lived agent pods').env('LADING_NAMESPACE').default('lading-system'))
    .option('-y, --yes', 'do not ask before changing nodes (needed without a terminal)')
    .addOption(new Option('--agent-image <image>', 'image already on the nodes for agent pods (default: the sandbox image)').env('LADING_AGENT_IMAGE'))
    .addOption(new Option('--containerd-socket <path>', 'containerd socket on the nodes (default: the kubelet\'s endpoint, from its command line or config)').env('LADING_CONTAINERD_SOCKET'))
    .addOption(new Option('--ctr <path>', 'ctr binary on the nodes (default: detected)').env('LADING_CTR'))
    .addOption(new Option('--image-store <dir>', 'CRI-O nodes: the read-only additional image store').env('LADING_IMAGE_STORE').default('/var/lib/lading/images'))
    .addOption(new Option('--storage-conf <path>', 'CRI-O nodes: containers-storage configuration').env('LADING_STORAGE_CONF').default('/etc/containers/storage.conf'))
    // check --repair configures the runtimes as install does: the same files and credentials.
    .addOption(new Option('--containerd-config <path>', 'containerd config.toml on the nodes, for mirrors (default: from containerd\'s command line, else the distribution\'s path)').env('LADING_CONTAINERD_CONFIG'))
    .addOption(new Option('--mirror-auth <file>', 'credentials for the mirrors (auth.json / Docker config.json format); written into hosts.toml (mode 600), never printed').env('LADING_MIRROR_AUTH'))
    .addOption(new Option('--mirror-auth-secret <name>', 'or a kubernetes.io/dockerconfigjson Secret with them (NAME in --namespace, or NAMESPACE/NAME)').env('LADING_MIRROR_AUTH_SECRET').conflicts('mirrorAuth'))
    .addOption(new Option('--smoke-image <image>', 'prove only this image with pods (default: every image of the node, one container each)').env('LADING_SMOKE_IMAGE'))
    .addOption(new Option('--keep-free <percent>', 'share of each node\'s image filesystem that must stay free after injection; above the kubelet\'s imageGCHighThresholdPercent (85) it deletes images no pod uses yet').env('LADING_KEEP_FREE').default('15'))
    .addOption(new Option('--concurrency <n>', 'nodes worked on at once').env('LADING_NODE_CONCURRENCY').default('2'))
    .addOption(
      new Option('--transport <way>', 'how images stream into the node agents: proxy (a receiver in the agent, reached through the API server\'s pods/proxy: the fastest; plain HTTP on the hop from the API server to the pod, single-use tokens; exec where the API server cannot reach pods) or exec (exec stdin only, encrypted up to the kubelet)')
        .choices(['proxy', 'exec'])
        .env('LADING_TRANSPORT')
        .default('proxy'),
    )
    .option('--json', 'print the report as JSON (changes need --yes)')
    .addOption(new Option('--no-tui', 'plain line output even on a terminal').env('LADING_NO_TUI'));
}

export async function main(argv: string[], streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  let exitCode: number = ExitCode.ok;
  setTraceSink(env.LADING_DEBUG ? (line) => streams.stderr.write(line) : undefined);
  const program = buildProgram(streams, env, (code) => {
    exitCode = code;
  });
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; usage errors were already printed.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (wantsJson) {
      const abort = error instanceof AbortError ? error : undefined;
      writeJson(streams.stdout, {
        ok: false,
        error: { message: (error as Error).message ?? String(error), hint: abort?.hint, exitCode: abort?.exitCode ?? ExitCode.failure },
      });
    }
    streams.stderr.write(
      formatErrorBanner(error, {
        color: useColor(streams.stderr, env),
        framed: Boolean(streams.stderr.isTTY),
        columns: streams.stderr.columns ?? 80,
      }) + '\n',
    );
    return error instanceof AbortError ? error.exitCode : ExitCode.failure;
  }
}
