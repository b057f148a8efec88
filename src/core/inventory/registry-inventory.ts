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
import { isRepositoryPath, isTag } from '../oci/reference.js';
import { parseBoundedJson } from '../util/bounded-json.js';
import { ApiProxyTransport } from '../registry/api-proxy.js';
import { PUSH_TOKEN_HEADER, readCredentials } from '../registry/auth.js';
import { PUSH_PORT_NAME, REGISTRY_NAME, registryServiceIn } from '../registry/deploy.js';
import { header, type PushTransport } from '../registry/transport.js';
import type { InventoryRegistry } from './inventory.js';

const MAX_DOCUMENT = 4 << 20;
const LIMITS = { maxBytes: MAX_DOCUMENT, maxValues: 1_000_000, maxDepth: 16 };

/** A list the registry pages (`_catalog`, `tags/list`): every page, following its Link header (at most 1,000 a page, distribution's limit). */
async function getPaged(transport: PushTransport, path: string, key: 'repositories' | 'tags', pageSize: number): Promise<string[]> {
  const all: string[] = [];
  let next: string | undefined = `${path}?n=${pageSize}`;
  for (let pages = 0; next && pages < 10_000; pages++) {
    const page = await getJson(transport, next);
    const list = (page.value as Record<string, unknown> | null)?.[key];
    if (Array.isArray(list)) for (const item of list) if (typeof item === 'string') all.push(item);
    const link = /<([^>]+)>;\s*rel="?next"?/.exec(page.link ?? '')?.[1];
    next = link ? transport.locate(link) : undefined;
  }
  return all;
}

async function getJson(transport: PushTransport, path: string, accept?: string): Promise<{ value: unknown; digest: string | undefined; link: string | undefined }> {
  const res = await transport.send({ method: 'GET', path, ...(accept ? { headers: { accept } } : {}) });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_DOCUMENT) throw new RegistryError(`${transport.name}: ${path} answered more than ${MAX_DOCUMENT} bytes`);
    chunks.push(chunk);
  }
  if (res.status !== 200) throw new RegistryError(`${transport.name}: GET ${path} answered ${res.status}`, { status: res.status });
  return { value: parseBoundedJson(Buffer.concat(chunks), LIMITS), digest: header(res, 'docker-content-digest'), link: header(res, 'link') };
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
  try {
    return { service: `${namespace}/${REGISTRY_NAME}`, ...(await listRegistry(transport)) };
  } finally {
    await transport.close();
  }
}

/** Every `repository:tag` a registry holds with its digest, and the blobs (configs, layers) its manifests name. */
export async function listRegistry(transport: PushTransport, options: { pageSize?: number } = {}): Promise<Pick<InventoryRegistry, 'images' | 'blobs'>> {
  const pageSize = options.pageSize ?? 1000;
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
  // Names from the registry go into request paths: only what the distribution spec allows (no `..`, `?`, `%`).
  for (const repository of (await getPaged(transport, '/v2/_catalog', 'repositories', pageSize)).filter(isRepositoryPath)) {
    for (const tag of (await getPaged(transport, `/v2/${repository}/tags/list`, 'tags', pageSize)).filter(isTag)) {
      const manifest = await getJson(transport, `/v2/${repository}/manifests/${encodeURIComponent(tag)}`, MANIFEST_ACCEPT);
      if (manifest.digest && SHA256_DIGEST.test(manifest.digest)) images[`${repository}:${tag}`] = manifest.digest;
      await walk(repository, manifest.value);
    }
  }
  return { images, blobs: [...blobs].sort() };
}
