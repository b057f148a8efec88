/**
 * The in-cluster registry of registry mode, for `lading inventory`: every
 * repository and tag it holds, and the blobs their manifests name (configs
 * and layers, through indexes), read through the API server's services/proxy
 * as the push is (with the push gate's token when the registry demands
 * credentials). Changes nothing.
 */
import type { ClusterConnection } from '../cluster/kube.js';
import { RegistryError } from '../errors.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import { SHA256_DIGEST } from '../oci/validate.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { ApiProxyTransport } from '../registry/api-proxy.js';
import { PUSH_TOKEN_HEADER, readCredentials } from '../registry/auth.js';
import { PUSH_PORT_NAME, REGISTRY_NAME, registryServiceIn } from '../registry/deploy.js';
import { header, type PushTransport } from '../registry/transport.js';
import type { InventoryRegistry } from './inventory.js';

const MAX_DOCUMENT = 4 << 20;
const LIMITS = { maxBytes: MAX_DOCUMENT, maxValues: 1_000_000, maxDepth: 16 };

async function getJson(transport: PushTransport, path: string, accept?: string): Promise<{ value: unknown; digest: string | undefined }> {
  const res = await transport.send({ method: 'GET', path, ...(accept ? { headers: { accept } } : {}) });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_DOCUMENT) throw new RegistryError(`${transport.name}: ${path} answered more than ${MAX_DOCUMENT} bytes`);
    chunks.push(chunk);
  }
  if (res.status !== 200) throw new RegistryError(`${transport.name}: GET ${path} answered ${res.status}`, { status: res.status });
  return { value: parseBoundedJson(Buffer.concat(chunks), LIMITS), digest: header(res, 'docker-content-digest') };
}

/** What the registry in `namespace` holds; undefined when registry mode does not run there. */
export async function registryInventory(conn: ClusterConnection, namespace: string): Promise<InventoryRegistry | undefined> {
  if (!(await registryServiceIn(conn, namespace))) return undefined;
  const credentials = await readCredentials(conn, namespace);
  const transport = new ApiProxyTransport(conn.kc, conn.server, {
    namespace,
    service: REGISTRY_NAME,
    port: credentials ? PUSH_PORT_NAME : 'registry',
    ...(credentials ? { headers: { [PUSH_TOKEN_HEADER]: credentials.pushToken } } : {}),
  });
  const images: Record<string, string> = {};
  const blobs = new Set<string>();
  const walked = new Set<string>();
  const walk = async (repository: string, document: unknown): Promise<void> => {
    const d = document as { manifests?: Array<{ digest?: unknown }>; config?: { digest?: unknown }; layers?: Array<{ digest?: unknown }> };
    for (const child of d.manifests ?? []) {
      if (typeof child?.digest !== 'string' || !SHA256_DIGEST.test(child.digest) || walked.has(`${repository}@${child.digest}`)) continue;
      walked.add(`${repository}@${child.digest}`);
      // A platform an index names need not be in the registry (bundles carry the platforms asked for).
      const found = await getJson(transport, `/v2/${repository}/manifests/${child.digest}`, MANIFEST_ACCEPT).catch((error: unknown) => (error instanceof RegistryError && error.status === 404 ? undefined : Promise.reject(error)));
      if (found) await walk(repository, found.value);
    }
    for (const blob of [d.config, ...(d.layers ?? [])]) if (typeof blob?.digest === 'string' && SHA256_DIGEST.test(blob.digest)) blobs.add(blob.digest);
  };
  try {
    const catalog = (await getJson(transport, '/v2/_catalog?n=100000')).value as { repositories?: unknown };
    for (const repository of Array.isArray(catalog.repositories) ? catalog.repositories.filter((r): r is string => typeof r === 'string') : []) {
      const listed = (await getJson(transport, `/v2/${repository}/tags/list`)).value as { tags?: unknown };
      for (const tag of Array.isArray(listed.tags) ? listed.tags.filter((t): t is string => typeof t === 'string') : []) {
        const manifest = await getJson(transport, `/v2/${repository}/manifests/${encodeURIComponent(tag)}`, MANIFEST_ACCEPT);
        if (manifest.digest && SHA256_DIGEST.test(manifest.digest)) images[`${repository}:${tag}`] = manifest.digest;
        await walk(repository, manifest.value);
      }
    }
  } finally {
    await transport.close();
  }
  return { service: `${namespace}/${REGISTRY_NAME}`, images, blobs: [...blobs].sort() };
}
