/**
 * Registry mode's push of a 1 GiB image: `lading install --registry` (the
 * registry image injected onto the test cluster's containerd node and run
 * there, then every image of the bundle pushed to it through the API
 * server's service proxy) next to `skopeo copy` of the same images from OCI
 * archives straight to that registry at its node address from the machine
 * (no API server in between). The registry starts empty (a registry lading
 * ran before on the cluster is removed with its data first); lading pushes
 * first, skopeo into other repositories of the same registry.
 *
 * Both push the same blobs: the 1 GiB image and the registry's own image
 * (lading pushes every image of the bundle, the registry's included, so
 * skopeo copies both archives; its time is the sum of the two copies).
 * Prints lading's push time (report.registry.push.ms) and skopeo's, the
 * speed ratio (skopeo time / lading's push time; target >= 0.7) and
 * lading's peak RSS (target < 250 MiB).
 *
 *   bash scripts/with-node24 node --import tsx bench/registry-push.ts [--mib 1024]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startRegistry } from '../test/support/registry.js';
import { pushImage } from '../test/support/images.js';
import { requireTool } from '../test/support/tools.js';
import { LADING_BIN, specText } from '../test/support/lading.js';
import { clusterUp, exec, nodeRun, option, timed, type BenchCluster } from './cluster.js';

const MIB = option('--mib', 1024);
const NAMESPACE = 'lading-system';
const REGISTRY = 'lading-registry';
const REGISTRY_DATA_DIR = '/var/lib/lading/registry';
const REGISTRY_PORT = 5000;

interface PushReport {
  images: number;
  blobsUploaded: number;
  blobsPresent: number;
  bytesSent: number;
  manifestsPut: number;
  ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Removes lading's in-cluster registry (Deployment, Service, its pod) and its data on every node: the next push starts empty. */
async function removeRegistry(cluster: BenchCluster): Promise<void> {
  const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const gone = async (what: () => Promise<unknown>) => {
    try {
      await what();
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
  };
  await gone(() => apps.deleteNamespacedDeployment({ name: REGISTRY, namespace: NAMESPACE, propagationPolicy: 'Foreground', gracePeriodSeconds: 0 }));
  await gone(() => core.deleteNamespacedService({ name: REGISTRY, namespace: NAMESPACE }));
  const deadline = Date.now() + 120_000;
  for (;;) {
    let pods: k8s.V1PodList;
    try {
      pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/name=${REGISTRY}` });
    } catch (error) {
      if ((error as { code?: number }).code === 404) break;
      throw error;
    }
    const deployment = await apps.readNamespacedDeployment({ name: REGISTRY, namespace: NAMESPACE }).catch((error: { code?: number }) => {
      if (error.code === 404) return undefined;
      throw error;
    });
    if (pods.items.length === 0 && !deployment) break;
    if (Date.now() > deadline) throw new Error(`the registry (Deployment ${REGISTRY} or its pods) in ${NAMESPACE} is still there after 120 s`);
    await sleep(500);
  }
  for (const key of (cluster.env.LADING_CLUSTER_NODES ?? 'containerd').split(',').filter(Boolean)) {
    await nodeRun(key, ['rm', '-rf', REGISTRY_DATA_DIR]);
  }
}

async function main(): Promise<void> {
  const skopeo = requireTool('skopeo', 'install it with `apt-get install skopeo`');
  const gcc = requireTool('gcc', 'install it with `apt-get install gcc libc6-dev`');
  const cluster = await clusterUp();
  const { kubeconfig } = cluster;
  const registryArchive = cluster.env.LADING_REGISTRY_IMAGE_ARCHIVE;
  const registryTag = cluster.env.LADING_REGISTRY_IMAGE?.split(':').pop();
  const work = await mkdtemp(join(tmpdir(), 'lading-bench-registry-push-'));
  let touched = false;
  /** The bench's images as the node names them (the registry's own, injected; the image, pulled by lading's proof). */
  const nodeImages: string[] = [];
  try {
    if (!registryArchive || !registryTag) throw new Error('cluster.env names no registry image (LADING_REGISTRY_IMAGE, LADING_REGISTRY_IMAGE_ARCHIVE)');
    const binary = join(work, 'app');
    await writeFile(`${binary}.c`, '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await exec(gcc, ['-static', '-Os', '-o', binary, `${binary}.c`]);
    const bundle = join(work, 'bundle.tar');
    const imageArchive = join(work, 'image.oci.tar');
    const registry = await startRegistry();
    try {
      const image = await pushImage(registry, {
        repository: 'bench/registry-push',
        tag: '1',
        layers: [{ files: { app: { content: readFileSync(binary), mode: 0o755 } } }, { randomBytes: MIB << 20, seed: 'bench-registry-push' }],
        config: { Entrypoint: ['/app'] },
      });
      const registryRef = `${registry.host}/lading/registry:${registryTag}`;
      nodeImages.push(image.ref, registryRef);
      await exec(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${registryArchive}`, `docker://${registryRef}`]);
      // the peer's input: the same image as an OCI archive (same blobs)
      await exec(skopeo, ['copy', '--quiet', '--src-tls-verify=false', `docker://${image.ref}`, `oci-archive:${imageArchive}`]);
      const spec = join(work, 'lading.yaml');
      await writeFile(spec, specText([image.ref], ['linux/amd64'], `  registry: {image: ${registryRef}, port: ${REGISTRY_PORT}}\n`));
      await timed(LADING_BIN, ['create', spec, '-o', bundle, '--no-tui'], { env: { ...process.env, CI: '1', LADING_CACHE_DIR: join(work, 'cache') } });
    } finally {
      // from here on the images are only in the bundle and the archives
      await registry.stop();
    }

    await removeRegistry(cluster);
    touched = true;
    await exec('sync');
    const lading = await timed(
      LADING_BIN,
      ['install', bundle, '--registry', '--yes', '--json', '--kubeconfig', kubeconfig, '--nodes', `kubernetes.io/hostname=${cluster.node.hostnameLabel}`],
      { env: { ...process.env, CI: '1' } },
    );
    const report = JSON.parse(lading.stdout) as { ok: boolean; registry?: { node: string; endpoint: string; push?: PushReport } };
    if (!report.ok) throw new Error(`install did not succeed: ${lading.stdout}`);
    const push = report.registry?.push;
    if (!push) throw new Error(`install reported no push: ${lading.stdout}`);
    if (push.images !== 2 || push.blobsPresent !== 0 || push.bytesSent < MIB * 2 ** 20) throw new Error(`the push did not start from an empty registry: ${JSON.stringify(push)}`);
    const endpoint = `${cluster.node.ip}:${REGISTRY_PORT}`;
    if (report.registry?.endpoint !== `http://${endpoint}`) throw new Error(`the registry runs at ${report.registry?.endpoint}, not at http://${endpoint}`);

    // The peer: the same two images, from the machine straight to the registry on its node address.
    await exec('sync');
    const peerImage = await timed(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${imageArchive}`, `docker://${endpoint}/bench/peer:1`]);
    const peerRegistry = await timed(skopeo, ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${registryArchive}`, `docker://${endpoint}/bench/peer-registry:1`]);
    const peerSeconds = peerImage.seconds + peerRegistry.seconds;

    const pushSeconds = push.ms / 1000;
    const mib = push.bytesSent / 2 ** 20;
    console.log(`images: ${mib.toFixed(0)} MiB in ${push.blobsUploaded} blobs (the image with one layer of ${MIB} MiB, and the registry's own image), one node`);
    console.log(['what', 'lading', 'peer', 'ratio (peer time / lading time)', 'peak RSS'].join(' | '));
    console.log(
      [
        'push into the in-cluster registry',
        `lading push through the API server ${pushSeconds.toFixed(2)} s (${(mib / pushSeconds).toFixed(0)} MiB/s); whole install ${lading.seconds.toFixed(2)} s`,
        `skopeo copy to the node address ${peerSeconds.toFixed(2)} s (${(mib / peerSeconds).toFixed(0)} MiB/s; image ${peerImage.seconds.toFixed(2)} s, registry image ${peerRegistry.seconds.toFixed(2)} s)`,
        (peerSeconds / pushSeconds).toFixed(2),
        `lading ${(lading.rssKiB / 1024).toFixed(0)} MiB`,
      ].join(' | '),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
    // a cluster that was running stays, without the registry, its data and the bench's images on the node
    if (cluster.wasUp && touched) {
      await removeRegistry(cluster).catch((error) => console.error(`could not remove the bench's registry: ${String(error)}`));
      for (const ref of nodeImages) await nodeRun('containerd', ['crictl', 'rmi', ref]).catch(() => undefined);
    }
    await cluster.done();
  }
}

await main();
